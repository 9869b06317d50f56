package ipam

import (
	"strconv"
	"testing"
)

// benchBatch is how many Services one allocator receives before the
// benchmark starts over with a fresh one, so that the pool never runs out.
const benchBatch = 100_000

var benchPools = []struct {
	name   string
	pool   Pool
	family Family
}{
	{"IPv4 /15", pool("v4", "198.18.0.0/15"), IPv4},
	{"IPv6 /64", pool("v6", "2001:db8:100::/64"), IPv6},
}

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "bench/s" + strconv.Itoa(i)
	}
	return keys
}

// BenchmarkAssign assigns a fresh Service per iteration, up to 100,000 per
// allocator, and reports the cost of one assignment.
func BenchmarkAssign(b *testing.B) {
	keys := benchKeys(benchBatch)
	for _, bp := range benchPools {
		b.Run(bp.name, func(b *testing.B) {
			a := newAllocatorWith(b, bp.pool)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i > 0 && i%benchBatch == 0 {
					b.StopTimer()
					a = newAllocatorWith(b, bp.pool)
					b.StartTimer()
				}
				if _, err := a.Assign(Service{Key: keys[i%benchBatch], Families: []Family{bp.family}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAssignNext measures assigning (and releasing again) one address
// in a pool where 1,000 or 100,000 addresses have been handed out. The
// per-operation time should barely change between the two sizes: finding a
// free address does not scan the assigned ones.
//
// In "packed" pools the handed-out addresses are contiguous and all still
// held, so the only released address is the probe's own from the previous
// iteration. In "fragmented" pools every other handed-out address was
// released again, so the heap of released addresses holds half of them and
// its cost grows with the logarithm of that number.
func BenchmarkAssignNext(b *testing.B) {
	for _, bp := range benchPools {
		for _, layout := range []string{"packed", "fragmented"} {
			for _, filled := range []int{1_000, 100_000} {
				name := bp.name + "/" + layout + "/filled=" + strconv.Itoa(filled)
				b.Run(name, func(b *testing.B) {
					a := newAllocatorWith(b, bp.pool)
					keys := benchKeys(filled)
					for _, key := range keys {
						mustAssign(b, a, Service{Key: key, Families: []Family{bp.family}})
					}
					if layout == "fragmented" {
						for i := 0; i < len(keys); i += 2 {
							a.Release(keys[i])
						}
					}
					probe := Service{Key: "bench/probe", Families: []Family{bp.family}}
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if _, err := a.Assign(probe); err != nil {
							b.Fatal(err)
						}
						a.Release(probe.Key)
					}
				})
			}
		}
	}
}
