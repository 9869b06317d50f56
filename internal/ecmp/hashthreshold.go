package ecmp

import "math/big"

// hashThreshold computes the split for a router that cuts the hash space
// [0, 1) into contiguous regions in router order, sized by weight (RFC
// 2992). Next hop i owns [lo/N, hi/N) before and [lo'/M, hi'/M) after, where
// lo and hi are cumulative weights; its connections stay on the overlap.
// Scaling both regions by N·M keeps every bound an integer, so the overlap
// is exact.
func hashThreshold(before, after []NextHop) split {
	s := newSplit(len(before))
	s.weightShares(before)
	n, m := totalWeight(before), totalWeight(after)
	if m == 0 {
		return s
	}
	scale := new(big.Int).Mul(bigU(n), bigU(m))

	type region struct{ lo, hi uint64 }
	afterRegion := make(map[string]region, len(after))
	var pos uint64
	for _, nh := range after {
		afterRegion[nh.Name] = region{pos, pos + nh.weight()}
		pos += nh.weight()
	}
	pos = 0
	for i, nh := range before {
		lo, hi := pos, pos+nh.weight()
		pos = hi
		r, ok := afterRegion[nh.Name]
		if !ok {
			continue
		}
		start := maxBig(new(big.Int).Mul(bigU(lo), bigU(m)), new(big.Int).Mul(bigU(r.lo), bigU(n)))
		end := minBig(new(big.Int).Mul(bigU(hi), bigU(m)), new(big.Int).Mul(bigU(r.hi), bigU(n)))
		if end.Cmp(start) > 0 {
			s.stays[i].SetFrac(end.Sub(end, start), scale)
		}
	}
	return s
}

func maxBig(a, b *big.Int) *big.Int {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}

func minBig(a, b *big.Int) *big.Int {
	if a.Cmp(b) <= 0 {
		return a
	}
	return b
}
