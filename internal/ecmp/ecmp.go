package ecmp

import (
	"errors"
	"fmt"
	"math/big"
)

// NextHop is one next hop in router order. Weight 0 means 1.
type NextHop struct {
	Name   string
	Weight uint32
}

// weight is the next hop's effective weight, wide enough that sums over
// any realistic set cannot overflow.
func (n NextHop) weight() uint64 {
	if n.Weight == 0 {
		return 1
	}
	return uint64(n.Weight)
}

// Options tunes the models that have parameters.
type Options struct {
	// Buckets is the resilient group's bucket count; 0 means 128.
	Buckets int
	// IdleMigration makes a resilient group move buckets to new or heavier next hops at once, as if every bucket were idle.
	IdleMigration bool
}

// DefaultBuckets is the bucket count of a resilient group when
// Options.Buckets is 0; it is also the kernel's default.
const DefaultBuckets = 128

// MaxBuckets is the largest bucket count a Linux resilient group accepts
// (the netlink attribute is 16 bits wide).
const MaxBuckets = 65535

// Estimate is the effect of one change of the next-hop set on existing
// connections.
type Estimate struct {
	// Moved is the share (0..1) of existing connections whose next hop changes, assuming connections are spread by a uniform hash in proportion to the before set.
	Moved float64
	// Lost is the share of existing connections whose next hop is no longer in the after set (a subset of Moved).
	Lost float64
	// Rehashed is Moved - Lost: connections moved although their next hop stays.
	Rehashed float64
	// PerNextHop gives, per next hop name of the before set, the share of ALL existing connections that leave it.
	PerNextHop map[string]float64
}

// WhatIf estimates the effect of changing the next-hop set from before to after under model.
// Errors (quoting the bad input): empty before set, duplicate names, unknown model, Buckets < number of next hops for resilient.
// An empty after set is allowed (everything is lost).
func WhatIf(model Model, before, after []NextHop, opts Options) (Estimate, error) {
	if _, err := ParseModel(string(model)); err != nil {
		return Estimate{}, err
	}
	if len(before) == 0 {
		return Estimate{}, errors.New("empty before set: a prefix without next hops has no connections to move")
	}
	if err := checkNames(before); err != nil {
		return Estimate{}, fmt.Errorf("before set: %w", err)
	}
	if err := checkNames(after); err != nil {
		return Estimate{}, fmt.Errorf("after set: %w", err)
	}

	var s split
	switch model {
	case ModuloN:
		s = moduloN(before, after)
	case HashThreshold:
		s = hashThreshold(before, after)
	case Resilient:
		buckets, err := bucketCount(opts.Buckets, len(before), len(after))
		if err != nil {
			return Estimate{}, fmt.Errorf("resilient model: %w", err)
		}
		s = resilient(before, after, buckets, opts.IdleMigration)
	}
	return s.estimate(before, after), nil
}

// split is what a model computes, per next hop of the before set (by
// index): the share of all existing connections it carries, and the share
// of all existing connections that stay on it after the change. Exact
// fractions keep "no change" at exactly zero and sums free of rounding.
type split struct {
	carried []*big.Rat
	stays   []*big.Rat
}

func newSplit(n int) split {
	s := split{carried: make([]*big.Rat, n), stays: make([]*big.Rat, n)}
	for i := range n {
		s.carried[i] = new(big.Rat)
		s.stays[i] = new(big.Rat)
	}
	return s
}

func (s split) estimate(before, after []NextHop) Estimate {
	inAfter := indexByName(after)
	moved, lost := new(big.Rat), new(big.Rat)
	est := Estimate{PerNextHop: make(map[string]float64, len(before))}
	for i, nh := range before {
		leaving := new(big.Rat).Sub(s.carried[i], s.stays[i])
		moved.Add(moved, leaving)
		if _, ok := inAfter[nh.Name]; !ok {
			lost.Add(lost, s.carried[i])
		}
		est.PerNextHop[nh.Name], _ = leaving.Float64()
	}
	est.Moved, _ = moved.Float64()
	est.Lost, _ = lost.Float64()
	// Subtracting the rounded values keeps Rehashed == Moved - Lost exact
	// for callers. It cannot go negative: Lost is at most Moved, and
	// rounding to float64 keeps that order.
	est.Rehashed = est.Moved - est.Lost
	return est
}

// checkNames rejects what would make "the same next hop before and after"
// ambiguous: a missing name or a name used twice.
func checkNames(nhs []NextHop) error {
	seen := make(map[string]bool, len(nhs))
	for i, nh := range nhs {
		if nh.Name == "" {
			return fmt.Errorf("next hop %d (counting from 0) has no name", i)
		}
		if seen[nh.Name] {
			return fmt.Errorf("duplicate next hop %q", nh.Name)
		}
		seen[nh.Name] = true
	}
	return nil
}

func indexByName(nhs []NextHop) map[string]int {
	idx := make(map[string]int, len(nhs))
	for i, nh := range nhs {
		idx[nh.Name] = i
	}
	return idx
}

func totalWeight(nhs []NextHop) uint64 {
	var sum uint64
	for _, nh := range nhs {
		sum += nh.weight()
	}
	return sum
}

// weightShares sets each before next hop's carried share to its weight
// over the total, which is how modulo-n and hash-threshold spread
// connections.
func (s split) weightShares(before []NextHop) {
	total := new(big.Int).SetUint64(totalWeight(before))
	for i, nh := range before {
		s.carried[i].SetFrac(new(big.Int).SetUint64(nh.weight()), total)
	}
}

func bigU(v uint64) *big.Int { return new(big.Int).SetUint64(v) }
