package ecmp

import "math/big"

// moduloN computes the split for a router that picks slots[hash mod N].
//
// The slot list holds each next hop weight times, contiguously, in router
// order, so next hop i owns the slot interval [start, start+weight). Over
// one period of lcm(N, M) hash values, the pairs (hash mod N, hash mod M)
// are exactly the pairs of before and after slots (x, y) with x ≡ y modulo
// gcd(N, M), each once (Chinese remainder theorem). A connection stays iff
// both slots hold the same next hop, so the share staying on next hop i is
// the number of such pairs between its before and after intervals, over
// the period. Counting the pairs in closed form keeps the result exact for
// any weights, where iterating over the period would take as long as the
// period.
func moduloN(before, after []NextHop) split {
	s := newSplit(len(before))
	s.weightShares(before)
	n, m := totalWeight(before), totalWeight(after)
	if m == 0 {
		return s
	}
	g := gcd(n, m)
	period := new(big.Int).Mul(bigU(n/g), bigU(m))

	afterStart := make(map[string]uint64, len(after))
	afterWeight := make(map[string]uint64, len(after))
	var pos uint64
	for _, nh := range after {
		afterStart[nh.Name], afterWeight[nh.Name] = pos, nh.weight()
		pos += nh.weight()
	}
	pos = 0
	for i, nh := range before {
		start, w := pos, nh.weight()
		pos += w
		t, ok := afterStart[nh.Name]
		if !ok {
			continue
		}
		s.stays[i].SetFrac(congruentPairs(start, w, t, afterWeight[nh.Name], g), period)
	}
	return s
}

// congruentPairs counts the pairs (x, y) with x in [s, s+a), y in [t, t+b)
// and x ≡ y modulo g.
//
// Per residue r, an interval of length a holds a/g values plus one more if
// r lies on the arc of a%g residues that starts at s mod g. Summing the
// product of the two counts over all residues gives
// g·qa·qb + qa·rb + qb·ra + |arc A ∩ arc B|.
func congruentPairs(s, a, t, b, g uint64) *big.Int {
	qa, ra := a/g, a%g
	qb, rb := b/g, b%g
	sum := new(big.Int).Mul(bigU(g), bigU(qa))
	sum.Mul(sum, bigU(qb))
	sum.Add(sum, new(big.Int).Mul(bigU(qa), bigU(rb)))
	sum.Add(sum, new(big.Int).Mul(bigU(qb), bigU(ra)))
	sum.Add(sum, bigU(arcOverlap(s%g, ra, t%g, rb, g)))
	return sum
}

// arcOverlap counts the residues modulo g on both the arc of ra residues
// starting at s and the arc of rb residues starting at t (ra, rb < g).
// Measured from s, the first arc is [0, ra), and the second starts at d and
// may wrap past g.
func arcOverlap(s, ra, t, rb, g uint64) uint64 {
	var d uint64
	if t >= s {
		d = t - s
	} else {
		d = g - (s - t)
	}
	if rb <= g-d {
		return overlap(0, ra, d, d+rb)
	}
	return overlap(0, ra, d, g) + overlap(0, ra, 0, rb-(g-d))
}

// overlap is the length of the intersection of [lo1, hi1) and [lo2, hi2).
func overlap(lo1, hi1, lo2, hi2 uint64) uint64 {
	lo, hi := max(lo1, lo2), min(hi1, hi2)
	if hi <= lo {
		return 0
	}
	return hi - lo
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
