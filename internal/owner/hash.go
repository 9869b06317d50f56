package owner

import "hash/fnv"

// The functions in this file define which node ranks highest for which
// bucket. Every node of a cluster computes its tables on its own, and
// nodes run different bgplb versions during an upgrade, so the results
// must never change: golden_test.go pins them. Change nothing here.

// nodeHash is computed once per node name: FNV-1a (64 bits) of the name's
// bytes, then mixed, because FNV-1a leaves names that differ only in their
// last byte (node-1, node-2) differing only in a few bits.
func nodeHash(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name)) // a hash.Hash never returns an error
	return mix64(h.Sum64())
}

// bucketHash is computed once per bucket: the (bucket+1)th output of the
// SplitMix64 generator started at 0, so consecutive buckets get unrelated
// values.
func bucketHash(bucket int) uint64 {
	return mix64(uint64(bucket+1) * 0x9e3779b97f4a7c15)
}

// score is a node's rendezvous weight for a bucket; the highest wins. It is
// one mix of the two precomputed hashes, which keeps Build's cost per
// bucket and node at a few multiplications.
func score(node, bucket uint64) uint64 {
	return mix64(node ^ bucket)
}

// mix64 is the SplitMix64 finalizer: a bijection on 64 bits in which every
// input bit changes each output bit with probability about one half.
func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}
