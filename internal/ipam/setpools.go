package ipam

import (
	"errors"
	"slices"
)

// This file replaces the pool set: which pools are accepted, with which
// version, and which Services must move.

// SetPools replaces the pool set.
//
// A pool that is invalid (empty name, duplicate name, no ranges, a zero
// Range or a nil selector) or whose ranges overlap each other or a range of
// another pool in use is rejected; its error is returned in rejected, keyed
// by pool name. Pools already in use are checked first, in their previous
// order, then new pools in the given order (the caller passes them oldest
// first). Each pool is checked against the other pools as they stand, so
// adding or editing a pool can never take addresses away from another one.
// A pool in use whose new version is rejected keeps its previous version:
// a bad edit is reported, and nothing that held addresses moves because of
// it.
//
// Assignments with an address that is no longer usable in their pool (the
// pool is gone, the range was removed or moved to another pool, or the pool
// now avoids the address) are dropped, and the keys of their
// Services are returned in moved, sorted, so that the caller can assign them
// again and warn.
func (a *Allocator) SetPools(pools []Pool) (rejected map[string]error, moved []string) {
	a.init()
	var refused rejections
	unique := firstDefinitions(pools, &refused)
	a.sortInUseFirst(unique)
	versions := a.checkPools(unique, &refused)
	a.install(a.poolStates(unique, versions), refused)
	return refused, a.releaseMisfits()
}

// rejections collects why SetPools refused pools, by pool name. It stays nil
// while nothing is refused.
type rejections map[string]error

// add records err for the pool called name, after any earlier reason.
func (r *rejections) add(name string, err error) {
	if *r == nil {
		*r = make(rejections)
	}
	if prev := (*r)[name]; prev != nil {
		err = errors.Join(prev, err)
	}
	(*r)[name] = err
}

// firstDefinitions returns pools without the later definitions of a name
// and refuses those: two objects can never share a name, so a duplicate is
// a caller's mistake, and using the first keeps the choice stable.
func firstDefinitions(pools []Pool, refused *rejections) []Pool {
	unique := make([]Pool, 0, len(pools))
	seen := make(map[string]bool, len(pools))
	for _, p := range pools {
		if seen[p.Name] {
			refused.add(p.Name, errorOf(ErrInvalidPool, "pool %q is defined more than once; only the first definition counts", p.Name))
			continue
		}
		seen[p.Name] = true
		unique = append(unique, p)
	}
	return unique
}

// sortInUseFirst orders pools for checking: the pools in use first, in
// their previous order, then the new ones in the order given. Checked in
// that order, a pool in use always wins an overlap with a new pool, so
// adding a pool never takes addresses away from another.
func (a *Allocator) sortInUseFirst(pools []Pool) {
	rank := make(map[string]int, len(a.pools))
	for i, ps := range a.pools {
		rank[ps.Name] = i
	}
	slices.SortStableFunc(pools, func(x, y Pool) int {
		rx, okx := rank[x.Name]
		ry, oky := rank[y.Name]
		switch {
		case okx && oky:
			return rx - ry
		case okx:
			return -1
		case oky:
			return 1
		}
		return 0
	})
}

// checkPools validates each pool, in order, against the versions of the
// other pools that are in use at that point, and returns the version of
// each pool to use from now on. A valid pool is used as given. A pool in use
// whose new version is refused keeps its previous version, so that a bad
// edit is reported and moves nothing; a new pool that is refused gets no
// version and is not used.
func (a *Allocator) checkPools(pools []Pool, refused *rejections) map[string]Pool {
	versions := make(map[string]Pool, len(pools))
	for _, p := range pools {
		if old, ok := a.poolByName[p.Name]; ok {
			versions[p.Name] = old.Pool
		}
	}
	for _, p := range pools {
		others := make([]Pool, 0, len(versions))
		for _, q := range pools {
			if v, ok := versions[q.Name]; ok && q.Name != p.Name {
				others = append(others, v)
			}
		}
		err := validatePool(&p, others)
		if err == nil {
			versions[p.Name] = p.clone()
			continue
		}
		if _, inUse := versions[p.Name]; inUse {
			err = &kindError{kind: err, msg: err.Error() + "; the pool keeps its previous version"}
		}
		refused.add(p.Name, err)
	}
	return versions
}

// poolStates builds the state of every pool that has a version, in the
// order of pools.
func (a *Allocator) poolStates(pools []Pool, versions map[string]Pool) []*poolState {
	var states []*poolState
	for _, p := range pools {
		if v, ok := versions[p.Name]; ok {
			states = append(states, newPoolState(v, a.poolByName[p.Name]))
		}
	}
	return states
}

// install makes accepted the pools in use, remembers why the others were
// refused, rebuilds the indexes that automatic assignment and address
// lookup use, and recounts the assigned addresses per pool.
func (a *Allocator) install(accepted []*poolState, refused rejections) {
	a.pools = accepted
	a.poolByName = make(map[string]*poolState, len(accepted))
	for _, p := range accepted {
		a.poolByName[p.Name] = p
	}
	a.rejected = refused
	a.autoOrder = slices.Clone(accepted)
	slices.SortStableFunc(a.autoOrder, autoOrderCompare)
	a.ranges = a.ranges[:0]
	for _, p := range accepted {
		for _, rs := range p.ranges {
			a.ranges = append(a.ranges, rs...)
		}
	}
	slices.SortFunc(a.ranges, func(x, y *rangeState) int {
		if x.family != y.family {
			return int(x.family) - int(y.family)
		}
		return x.first.cmp(y.first)
	})
	a.recount()
}

// releaseMisfits releases every assignment with an address its pool no
// longer hands out and returns the keys of those Services, sorted.
func (a *Allocator) releaseMisfits() []string {
	var moved []string
	for key, h := range a.byKey {
		if !a.stillFits(h) {
			moved = append(moved, key)
		}
	}
	slices.Sort(moved)
	for _, key := range moved {
		a.Release(key)
	}
	return moved
}

// validatePool checks p on its own and against the other pools in use.
func validatePool(p *Pool, others []Pool) error {
	if p.Name == "" {
		return errorOf(ErrInvalidPool, "a pool has no name")
	}
	if len(p.Ranges) == 0 {
		return errorOf(ErrInvalidPool, "pool %q has no address ranges", p.Name)
	}
	for _, r := range p.Ranges {
		if !r.IsValid() {
			return errorOf(ErrInvalidPool, "pool %q has an empty (zero) range", p.Name)
		}
	}
	if slices.Contains(p.NamespaceSelectors, nil) || slices.Contains(p.ServiceSelectors, nil) {
		return errorOf(ErrInvalidPool, "pool %q has a nil selector", p.Name)
	}

	// Sorted by start, two ranges of a set overlap only if two neighbours
	// do, so checking neighbours finds any overlap within the pool.
	sorted := slices.Clone(p.Ranges)
	slices.SortFunc(sorted, func(x, y Range) int {
		if x.Family() != y.Family() {
			return int(x.Family()) - int(y.Family())
		}
		return x.first.Compare(y.first)
	})
	for i := 1; i < len(sorted); i++ {
		if sorted[i-1].Overlaps(sorted[i]) {
			return errorOf(ErrOverlap, "pool %q: range %q overlaps range %q of the same pool", p.Name, sorted[i].String(), sorted[i-1].String())
		}
	}
	for _, r := range p.Ranges {
		for _, other := range others {
			for _, or := range other.Ranges {
				if r.Overlaps(or) {
					return errorOf(ErrOverlap, "pool %q: range %q overlaps range %q of pool %q", p.Name, r.String(), or.String(), other.Name)
				}
			}
		}
	}
	return nil
}

// newPoolState builds the state of an accepted pool. Ranges that the pool
// had before with the same AvoidBuggyIPs setting keep their search state, so
// that editing one range of a pool does not make the next assignment rescan
// the addresses already handed out from the others.
func newPoolState(p Pool, old *poolState) *poolState {
	ps := &poolState{Pool: p}
	var reuse map[Range]*rangeState
	if old != nil && old.AvoidBuggyIPs == p.AvoidBuggyIPs {
		reuse = make(map[Range]*rangeState)
		for _, rss := range old.ranges {
			for _, rs := range rss {
				reuse[rs.Range] = rs
			}
		}
	}
	for _, r := range p.Ranges {
		rs := reuse[r]
		if rs != nil {
			rs.pool = ps
		} else {
			rs = newRangeState(r, ps)
		}
		fi := familyIndex(rs.family)
		ps.ranges[fi] = append(ps.ranges[fi], rs)
		ps.usable[fi] = ps.usable[fi].addSat(rs.usableCount())
	}
	for _, rss := range ps.ranges {
		slices.SortFunc(rss, func(x, y *rangeState) int { return x.first.cmp(y.first) })
	}
	return ps
}

// recount recomputes every pool's assigned counters from the holders. It
// counts exactly the addresses that unhold would later uncount, which keeps
// the counters consistent across pool changes.
func (a *Allocator) recount() {
	for _, p := range a.pools {
		p.assigned = [2]uint64{}
	}
	for addr, hs := range a.byAddr {
		if rs := a.countedRange(addr, hs.first.asg.Pool); rs != nil {
			rs.pool.assigned[familyIndex(rs.family)]++
		}
	}
}

// stillFits reports whether every address of h is still usable in h's pool.
func (a *Allocator) stillFits(h *holding) bool {
	p := a.poolByName[h.asg.Pool]
	if p == nil {
		return false
	}
	for _, addr := range h.asg.Addrs {
		if !a.usableIn(p, addr) {
			return false
		}
	}
	return true
}
