package ecmp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The tests in this file check WhatIf against plain simulations of each
// router: a lookup from hash to next hop, written as directly as the model
// describes it, fed with many pseudo-random hashes. They share no code
// with the estimator beyond the NextHop type.

// router maps a hash to the index (in a shared name table) of a next hop,
// or -1 when it has none.
type router func(h uint64) int

type names map[string]int

func (n names) id(name string) int {
	if id, ok := n[name]; ok {
		return id
	}
	n[name] = len(n)
	return n[name]
}

func simWeight(nh NextHop) int {
	if nh.Weight == 0 {
		return 1
	}
	return int(nh.Weight)
}

// moduloRouter picks slots[h mod len(slots)] from a slot list holding each
// next hop weight times.
func moduloRouter(nhs []NextHop, ids names) router {
	var slots []int
	for _, nh := range nhs {
		for range simWeight(nh) {
			slots = append(slots, ids.id(nh.Name))
		}
	}
	return func(h uint64) int {
		if len(slots) == 0 {
			return -1
		}
		return slots[h%uint64(len(slots))]
	}
}

// thresholdRouter maps the hash to a point in [0, 1) and picks the next
// hop whose contiguous region, sized by weight in router order, holds it.
func thresholdRouter(nhs []NextHop, ids names) router {
	total := 0
	for _, nh := range nhs {
		total += simWeight(nh)
	}
	return func(h uint64) int {
		point := float64(h>>11) / (1 << 53) * float64(total)
		cum := 0
		for _, nh := range nhs {
			cum += simWeight(nh)
			if point < float64(cum) {
				return ids.id(nh.Name)
			}
		}
		return -1
	}
}

// simWants counts the buckets each next hop deserves: the first i next
// hops together get B·W_i/W rounded half up.
func simWants(nhs []NextHop, buckets int, ids names) map[int]int {
	total := 0
	for _, nh := range nhs {
		total += simWeight(nh)
	}
	wants := make(map[int]int, len(nhs))
	cum, prev := 0, 0
	for _, nh := range nhs {
		cum += simWeight(nh)
		bound := (2*buckets*cum + total) / (2 * total)
		wants[ids.id(nh.Name)] = bound - prev
		prev = bound
	}
	return wants
}

// resilientRouters simulates a resilient group's bucket table: an empty
// table filled until balanced for before, then one upkeep pass after the
// change, which moves every bucket whose next hop left and, when buckets
// are idle, every bucket of a next hop holding more than it now deserves,
// each to the first next hop holding fewer than it deserves. Buckets of a
// one-next-hop group always count as idle, as in the kernel.
func resilientRouters(before, after []NextHop, buckets int, idle bool, ids names) (router, router) {
	table := make([]int, buckets)
	held := map[int]int{}
	upkeep := func(order []NextHop, wants map[int]int, migrate func(owner int) bool) {
		for b, owner := range table {
			if !migrate(owner) {
				continue
			}
			for _, nh := range order {
				if to := ids.id(nh.Name); held[to] < wants[to] {
					held[owner]--
					held[to]++
					table[b] = to
					break
				}
			}
		}
	}
	for b := range table {
		table[b] = -1
	}
	upkeep(before, simWants(before, buckets, ids), func(owner int) bool { return owner == -1 })
	old := slices.Clone(table)

	// The buckets of a one-next-hop group never record traffic, so the
	// kernel finds them idle.
	idle = idle || len(before) == 1
	wants := simWants(after, buckets, ids)
	upkeep(after, wants, func(owner int) bool {
		w, stays := wants[owner]
		return !stays || (idle && held[owner] > w)
	})
	// Only an empty after set leaves buckets without a next hop to move to.
	for b, owner := range table {
		if _, ok := wants[owner]; !ok {
			table[b] = -1
		}
	}
	lookup := func(t []int) router {
		return func(h uint64) int { return t[h%uint64(len(t))] }
	}
	return lookup(old), lookup(table)
}

type simulated struct{ moved, lost float64 }

func simulate(oldR, newR router, after []NextHop, ids names, hashes []uint64) simulated {
	present := map[int]bool{}
	for _, nh := range after {
		present[ids.id(nh.Name)] = true
	}
	var moved, lost int
	for _, h := range hashes {
		was, is := oldR(h), newR(h)
		if was != is {
			moved++
		}
		if !present[was] {
			lost++
		}
	}
	return simulated{float64(moved) / float64(len(hashes)), float64(lost) / float64(len(hashes))}
}

func randomSet(rng *rand.Rand) []NextHop {
	n := 1 + rng.IntN(6)
	nhs := make([]NextHop, n)
	for i := range nhs {
		nhs[i] = NextHop{Name: fmt.Sprintf("n%d", i), Weight: uint32(rng.IntN(5))}
	}
	return nhs
}

// randomChange applies up to three random edits (removal, addition at a
// random position, reweight, swap of neighbours), and now and then empties
// the set.
func randomChange(rng *rand.Rand, before []NextHop) []NextHop {
	after := slices.Clone(before)
	if rng.IntN(20) == 0 {
		return nil
	}
	for k := range rng.IntN(4) {
		switch rng.IntN(4) {
		case 0:
			if len(after) > 0 {
				i := rng.IntN(len(after))
				after = slices.Delete(after, i, i+1)
			}
		case 1:
			nh := NextHop{Name: fmt.Sprintf("new%d", k), Weight: uint32(rng.IntN(5))}
			after = slices.Insert(after, rng.IntN(len(after)+1), nh)
		case 2:
			if len(after) > 0 {
				after[rng.IntN(len(after))].Weight = uint32(rng.IntN(5))
			}
		case 3:
			if len(after) > 1 {
				i := rng.IntN(len(after) - 1)
				after[i], after[i+1] = after[i+1], after[i]
			}
		}
	}
	return after
}

func TestWhatIfMatchesSimulatedRouters(t *testing.T) {
	t.Parallel()
	const (
		cases   = 200
		samples = 100_000
		// One percentage point is more than six standard errors of a
		// share estimated from this many samples.
		maxDiff = 0.01
	)
	rng := rand.New(rand.NewPCG(2992, 128))
	hashes := make([]uint64, samples)
	for c := range cases {
		before := randomSet(rng)
		after := randomChange(rng, before)
		buckets := max(len(before), len(after), 1)
		buckets = []int{buckets + rng.IntN(8), 16, 64, 128}[rng.IntN(4)]
		buckets = max(buckets, len(before), len(after))
		for i := range hashes {
			hashes[i] = rng.Uint64()
		}

		type variant struct {
			model Model
			opts  Options
			build func(ids names) (router, router)
		}
		variants := []variant{
			{ModuloN, Options{}, func(ids names) (router, router) {
				return moduloRouter(before, ids), moduloRouter(after, ids)
			}},
			{HashThreshold, Options{}, func(ids names) (router, router) {
				return thresholdRouter(before, ids), thresholdRouter(after, ids)
			}},
			{Resilient, Options{Buckets: buckets}, func(ids names) (router, router) {
				return resilientRouters(before, after, buckets, false, ids)
			}},
			{Resilient, Options{Buckets: buckets, IdleMigration: true}, func(ids names) (router, router) {
				return resilientRouters(before, after, buckets, true, ids)
			}},
		}
		for _, v := range variants {
			est, err := WhatIf(v.model, before, after, v.opts)
			if err != nil {
				t.Fatalf("case %d: WhatIf(%s, %v, %v, %+v): %v", c, v.model, before, after, v.opts, err)
			}
			ids := names{}
			oldR, newR := v.build(ids)
			sim := simulate(oldR, newR, after, ids, hashes)
			if math.Abs(est.Moved-sim.moved) > maxDiff || math.Abs(est.Lost-sim.lost) > maxDiff {
				t.Errorf("case %d: %s %+v from %q to %q: WhatIf moved %.4f lost %.4f, simulation moved %.4f lost %.4f",
					c, v.model, v.opts, FormatNextHops(before), FormatNextHops(after), est.Moved, est.Lost, sim.moved, sim.lost)
			}
		}
	}
}

// TestModuloNMatchesIterationOverThePeriod checks the closed-form count
// against the definition: every residue of one period of lcm(N, M),
// compared slot by slot. Both are exact, so they must agree to rounding.
func TestModuloNMatchesIterationOverThePeriod(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	for c := range 500 {
		before := randomSet(rng)
		for i := range before {
			before[i].Weight = uint32(rng.IntN(8))
		}
		after := randomChange(rng, before)
		est, err := WhatIf(ModuloN, before, after, Options{})
		if err != nil {
			t.Fatal(err)
		}

		ids := names{}
		oldR, newR := moduloRouter(before, ids), moduloRouter(after, ids)
		n, m := 0, 0
		for _, nh := range before {
			n += simWeight(nh)
		}
		for _, nh := range after {
			m += simWeight(nh)
		}
		period := n
		if m > 0 {
			period = n / int(gcd(uint64(n), uint64(m))) * m
		}
		leaving := map[int]int{}
		moved := 0
		for h := range uint64(period) {
			if was := oldR(h); was != newR(h) {
				moved++
				leaving[was]++
			}
		}
		if want := float64(moved) / float64(period); math.Abs(est.Moved-want) > tolerance {
			t.Errorf("case %d: from %q to %q: WhatIf moved %v, iterating over %d residues gives %v",
				c, FormatNextHops(before), FormatNextHops(after), est.Moved, period, want)
		}
		for _, nh := range before {
			want := float64(leaving[ids.id(nh.Name)]) / float64(period)
			if math.Abs(est.PerNextHop[nh.Name]-want) > tolerance {
				t.Errorf("case %d: from %q to %q: PerNextHop[%q] = %v, iteration gives %v",
					c, FormatNextHops(before), FormatNextHops(after), nh.Name, est.PerNextHop[nh.Name], want)
			}
		}
	}
}
