package ecmp

import (
	"fmt"
	"math/bits"
)

// resilient computes the split for a Linux resilient nexthop group of the
// given number of buckets. Connections are spread over buckets, so a next
// hop carries its bucket count over the bucket total, quantization
// included. The before table is taken as balanced. A removed next hop's
// buckets always move; a next hop that stays keeps all its buckets while
// they are busy, and with idle migration only as many as it still deserves.
//
// A group of one next hop is the exception: Linux forwards through it
// without consulting its buckets, so they never record traffic, count as
// idle however busy the connections, and move at once when a second next
// hop joins (measured in the lab: half the connections break on 1→2).
func resilient(before, after []NextHop, buckets uint64, idleMigration bool) split {
	if len(before) == 1 {
		idleMigration = true
	}
	s := newSplit(len(before))
	held := bucketCounts(before, buckets)
	deserved := bucketCounts(after, buckets)
	inAfter := indexByName(after)
	total := bigU(buckets)
	for i, nh := range before {
		s.carried[i].SetFrac(bigU(held[i]), total)
		j, ok := inAfter[nh.Name]
		if !ok {
			continue
		}
		kept := held[i]
		if idleMigration {
			kept = min(kept, deserved[j])
		}
		s.stays[i].SetFrac(bigU(kept), total)
	}
	return s
}

// bucketCounts gives each next hop, in router order, the number of buckets
// it deserves, the way the kernel's rebalancing counts them: the first i
// next hops together get round(B·W_i/W) buckets, where W_i is their summed
// weight and W the summed weight of all, with halves rounded up; each next
// hop gets the difference between its cumulative count and the previous
// one. Rounding the cumulative sums keeps the total at exactly B.
func bucketCounts(nhs []NextHop, buckets uint64) []uint64 {
	total := totalWeight(nhs)
	counts := make([]uint64, len(nhs))
	var cumWeight, prevBound uint64
	for i, nh := range nhs {
		cumWeight += nh.weight()
		bound := roundedShare(buckets, cumWeight, total)
		counts[i] = bound - prevBound
		prevBound = bound
	}
	return counts
}

// roundedShare is round(b·w/total) with halves rounded up, computed in 128
// bits so that large weights cannot overflow. w never exceeds total, so the
// quotient is at most b and Div64's precondition (high word < divisor)
// holds.
func roundedShare(b, w, total uint64) uint64 {
	hi, lo := bits.Mul64(b, w)
	lo, carry := bits.Add64(lo, total/2, 0)
	hi += carry
	q, _ := bits.Div64(hi, lo, total)
	return q
}

// bucketCount resolves Options.Buckets and checks that both sets fit. With
// fewer buckets than next hops some next hop would get no bucket and no
// traffic at all, which is almost surely a mistyped bucket count, so it is
// refused rather than estimated.
func bucketCount(requested, beforeLen, afterLen int) (uint64, error) {
	buckets := requested
	if buckets == 0 {
		buckets = DefaultBuckets
	}
	if buckets < 0 || buckets > MaxBuckets {
		return 0, fmt.Errorf("invalid bucket count %d: a resilient group has 1 to %d buckets", requested, MaxBuckets)
	}
	if beforeLen > buckets {
		return 0, fmt.Errorf("%d buckets cannot hold the %d next hops of the before set", buckets, beforeLen)
	}
	if afterLen > buckets {
		return 0, fmt.Errorf("%d buckets cannot hold the %d next hops of the after set", buckets, afterLen)
	}
	return uint64(buckets), nil
}
