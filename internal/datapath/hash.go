package datapath

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Tuple is the flow a packet belongs to, as the program hashes it. An ICMP
// "fragmentation needed" or "packet too big" message belongs to the flow
// it quotes, turned around to the client's direction.
type Tuple struct {
	Source, Destination         netip.Addr
	SourcePort, DestinationPort uint16
	// Protocol is the IP protocol number: 6 for TCP, 17 for UDP.
	Protocol uint8
}

// Bucket returns the bucket of the flow in a table of bucketCount buckets,
// the same the kernel program computes for the flow's packets. Addresses
// are taken in their 16-byte form (IPv4 as v4-mapped IPv6), so an IPv4 flow
// hashes alike whether its addresses were given as IPv4 or v4-mapped.
// bucketCount must not be zero.
func Bucket(t Tuple, bucketCount uint32) uint32 {
	return flowHash(t) % bucketCount
}

// flowHash is MurmurHash3's (x86, 32-bit) block step and finaliser with
// seed 0 over ten 32-bit words: the source and the destination address as
// four big-endian words each, source port << 16 | destination port, and
// the protocol. It is written from the algorithm's definition and must
// stay equal to flow_hash in bpf/director.c, which a test checks.
func flowHash(t Tuple) uint32 {
	var h uint32
	for _, address := range []netip.Addr{t.Source, t.Destination} {
		bytes := address.As16()
		for i := 0; i < 16; i += 4 {
			h = murmurMix(h, binary.BigEndian.Uint32(bytes[i:]))
		}
	}
	h = murmurMix(h, uint32(t.SourcePort)<<16|uint32(t.DestinationPort))
	h = murmurMix(h, uint32(t.Protocol))
	h ^= 40 // the length in bytes of what was hashed
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

func murmurMix(h, k uint32) uint32 {
	k *= 0xcc9e2d51
	k = bits.RotateLeft32(k, 15)
	k *= 0x1b873593
	h ^= k
	h = bits.RotateLeft32(h, 13)
	return h*5 + 0xe6546b64
}
