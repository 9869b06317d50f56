package owner

import (
	"fmt"
	"testing"
)

// BenchmarkBuild builds tables of DefaultSize buckets for sets of Active
// nodes. Build hashes each name once and then mixes one hash per bucket
// and node, so the cost grows with buckets times nodes; ns/score reports
// it per pair.
func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{3, 16, 100, 1000} {
		members := numberedMembers(n, Active)
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(members, DefaultSize); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n*DefaultSize), "ns/score")
		})
	}
}
