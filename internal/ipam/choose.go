package ipam

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// This file decides what a Service gets: whether its assignment still
// fits, which pool and addresses it takes, and why none can be had.

// pick is one address chosen for a Service. fresh is the range it was found
// free in, or nil when the address is already held (by the Service itself
// or by Services it shares with) or was requested explicitly.
type pick struct {
	addr  netip.Addr
	fresh *rangeState
}

// satisfies reports whether h still fits req, so that Assign can return it
// unchanged.
func (a *Allocator) satisfies(req *request, requested []netip.Addr, h *holding) bool {
	p := a.poolByName[h.asg.Pool]
	if p == nil || (req.RequestedPool != "" && req.RequestedPool != p.Name) || p.allows(req) != nil {
		return false
	}
	for _, addr := range h.asg.Addrs {
		if !a.usableIn(p, addr) || a.sharingConflict(req, addr) != nil {
			return false
		}
	}
	if requested != nil {
		return slices.Equal(h.asg.Addrs, requested)
	}
	got := make([]Family, len(h.asg.Addrs))
	for i, addr := range h.asg.Addrs {
		got[i] = FamilyOf(addr)
	}
	if slices.Equal(got, req.families()) {
		return true
	}
	if req.policy != PreferDualStack || len(got) != 1 || got[0] != req.families()[0] {
		return false
	}
	for _, f := range req.families()[1:] {
		if _, ok := a.pickIn(p, f, req, h); ok {
			return false
		}
	}
	return true
}

// checkAddrs validates explicitly given addresses (requested or adopted):
// all in one accepted pool (the requested one, if named) that allows the
// Service and does not avoid them, and shareable with their holders.
func (a *Allocator) checkAddrs(req *request, addrs []netip.Addr, requestedPool string) (*poolState, []pick, error) {
	var pool *poolState
	var poolAddr netip.Addr
	picks := make([]pick, len(addrs))
	for i, addr := range addrs {
		rs := a.rangeOf(addr)
		if rs == nil {
			return nil, nil, errorOf(ErrNoPool, "address %q is not in any pool", addr.String())
		}
		if pool == nil {
			pool, poolAddr = rs.pool, addr
		} else if rs.pool != pool {
			return nil, nil, errorOf(ErrNotAllowed, "addresses %q and %q are in different pools (%q and %q), but all addresses of a Service must come from one pool",
				poolAddr.String(), addr.String(), pool.Name, rs.pool.Name)
		}
		if err := rs.refusal(addr); err != nil {
			return nil, nil, err
		}
		picks[i] = pick{addr: addr}
	}
	if requestedPool != "" && requestedPool != pool.Name {
		if _, err := a.namedPool(requestedPool); err != nil {
			return nil, nil, err
		}
		return nil, nil, errorOf(ErrNotAllowed, "address %q is in pool %q, not in the requested pool %q", poolAddr.String(), pool.Name, requestedPool)
	}
	if err := pool.allows(req); err != nil {
		return nil, nil, err
	}
	for _, addr := range addrs {
		if err := a.sharingConflict(req, addr); err != nil {
			return nil, nil, err
		}
	}
	return pool, picks, nil
}

// sharingConflict reports why req may not hold addr alongside its current
// holders, or nil if it may.
func (a *Allocator) sharingConflict(req *request, addr netip.Addr) error {
	var err error
	a.byAddr[addr].each(func(h *holding) bool {
		if h.key != req.Key {
			err = req.canShareWith(addr, h)
		}
		return err == nil
	})
	return err
}

// choose picks a pool and addresses for a Service without requested
// addresses: the first candidate pool that can supply every family, or for
// PreferDualStack, failing that, the first that can supply the primary one.
func (a *Allocator) choose(req *request, cur *holding) (*poolState, []pick, error) {
	candidates, err := a.candidates(req, cur)
	if err != nil {
		return nil, nil, err
	}
	var fallback *poolState
	var fallbackPick pick
	picks := make([]pick, 0, len(req.families()))
	for _, p := range candidates {
		picks = picks[:0]
		for _, f := range req.families() {
			pk, ok := a.pickIn(p, f, req, cur)
			if !ok {
				break
			}
			picks = append(picks, pk)
		}
		if len(picks) == len(req.families()) {
			return p, picks, nil
		}
		if req.policy == PreferDualStack && fallback == nil && len(picks) > 0 {
			fallback, fallbackPick = p, picks[0]
		}
	}
	if fallback != nil {
		return fallback, append(picks[:0], fallbackPick), nil
	}
	return nil, nil, a.explainFailure(req, candidates, cur)
}

// candidates returns the pools choose may use, in the order it tries them.
//
// With a requested pool that is the only candidate. Otherwise the candidates
// are the pools that allow the Service and either assign automatically or
// are the pool the Service already uses (AutoAssign governs new choices; a
// Service keeps its pool rather than being moved for no reason). The
// Service's current pool comes first, then pools holding an address it may
// share, then the rest, each group in priority order. That keeps recomputed
// assignments close to the old ones and makes sharing win over priority.
func (a *Allocator) candidates(req *request, cur *holding) ([]*poolState, error) {
	if req.RequestedPool != "" {
		p, err := a.namedPool(req.RequestedPool)
		if err != nil {
			return nil, err
		}
		if err := p.allows(req); err != nil {
			return nil, err
		}
		return []*poolState{p}, nil
	}
	// Most calls have no current pool and no sharing key, so every
	// candidate is in the last group and no reordering (or allocation for
	// it) is needed.
	const (
		currentGroup = iota
		sharingGroup
		restGroup
	)
	all := make([]*poolState, 0, len(a.autoOrder))
	var groups []int8
	for _, p := range a.autoOrder {
		isCurrent := cur != nil && cur.asg.Pool == p.Name
		if (!p.AutoAssign && !isCurrent) || p.allows(req) != nil {
			continue
		}
		group := int8(restGroup)
		switch {
		case isCurrent:
			group = currentGroup
		case req.SharingKey != "" && a.holdsShareable(p, req):
			group = sharingGroup
		}
		if group != restGroup && groups == nil {
			groups = make([]int8, len(all), cap(all))
			for i := range groups {
				groups[i] = restGroup
			}
		}
		all = append(all, p)
		if groups != nil {
			groups = append(groups, group)
		}
	}
	if len(all) == 0 {
		return nil, a.noCandidateError(req)
	}
	if groups != nil {
		ordered := make([]*poolState, 0, len(all))
		for g := int8(currentGroup); g <= restGroup; g++ {
			for i, p := range all {
				if groups[i] == g {
					ordered = append(ordered, p)
				}
			}
		}
		all = ordered
	}
	return all, nil
}

// noCandidateError says why no pool may serve req automatically, naming
// each pool's reason. It runs only on failure, so it may be slow.
func (a *Allocator) noCandidateError(req *request) error {
	if len(a.pools) == 0 {
		return errorOf(ErrNoPool, "no address pools are configured")
	}
	var refusals []string
	for _, p := range a.autoOrder {
		if !p.AutoAssign {
			refusals = append(refusals, fmt.Sprintf("pool %q does not assign automatically", p.Name))
		} else if err := p.allows(req); err != nil {
			refusals = append(refusals, err.Error())
		}
	}
	return errorOf(ErrNotAllowed, "no pool can assign an address to %s automatically: %s", req.Key, strings.Join(refusals, "; "))
}

// holdsShareable reports whether p holds an address req may share.
func (a *Allocator) holdsShareable(p *poolState, req *request) bool {
	for _, f := range req.families() {
		if _, ok := a.sharedAddrIn(p, f, req); ok {
			return true
		}
	}
	return false
}

// pickIn finds an address of family f in p for req: the Service's own
// address if it may keep it, else the lowest address it may share under its
// sharing key, else the lowest free address.
func (a *Allocator) pickIn(p *poolState, f Family, req *request, cur *holding) (pick, bool) {
	fi := familyIndex(f)
	if len(p.ranges[fi]) == 0 {
		return pick{}, false
	}
	if cur != nil && cur.asg.Pool == p.Name {
		for _, addr := range cur.asg.Addrs {
			if FamilyOf(addr) == f && a.usableIn(p, addr) && a.sharingConflict(req, addr) == nil {
				return pick{addr: addr}, true
			}
		}
	}
	if req.SharingKey != "" {
		if addr, ok := a.sharedAddrIn(p, f, req); ok {
			return pick{addr: addr}, true
		}
	}
	for _, rs := range p.ranges[fi] {
		if v, ok := rs.peek(a.byAddr); ok {
			return pick{addr: addrOf(v, f), fresh: rs}, true
		}
	}
	return pick{}, false
}

// sharedAddrIn returns the lowest address of family f in p that another
// Service holds under req's sharing key and that req may share.
func (a *Allocator) sharedAddrIn(p *poolState, f Family, req *request) (netip.Addr, bool) {
	var best netip.Addr
	for _, h := range a.bySharingKey[req.SharingKey] {
		if h.key == req.Key || h.asg.Pool != p.Name {
			continue
		}
		for _, addr := range h.asg.Addrs {
			if FamilyOf(addr) != f || (best.IsValid() && !addr.Less(best)) {
				continue
			}
			if a.usableIn(p, addr) && a.sharingConflict(req, addr) == nil {
				best = addr
			}
		}
	}
	return best, best.IsValid()
}

// explainFailure says why no candidate pool could serve req, distinguishing
// exhaustion (ErrExhausted) from configuration that can never work
// (ErrNoPool).
func (a *Allocator) explainFailure(req *request, candidates []*poolState, cur *holding) error {
	required := req.requiredFamilies()
	var complete []*poolState
	for _, p := range candidates {
		if !slices.ContainsFunc(required, func(f Family) bool { return !p.hasFamily(f) }) {
			complete = append(complete, p)
		}
	}
	if len(complete) == 0 {
		for _, f := range required {
			if slices.ContainsFunc(candidates, func(p *poolState) bool { return p.hasFamily(f) }) {
				continue
			}
			switch {
			case req.RequestedPool != "":
				return errorOf(ErrNoPool, "pool %q has no %v addresses", req.RequestedPool, f)
			case slices.ContainsFunc(a.pools, func(p *poolState) bool { return p.hasFamily(f) }):
				return errorOf(ErrNoPool, "no pool that %s may use has addresses for %v", req.Key, f)
			default:
				return errorOf(ErrNoPool, "no pool has addresses for %v", f)
			}
		}
		return errorOf(ErrNoPool, "no pool that %s may use has addresses for both %v and %v", req.Key, required[0], required[1])
	}
	names := make([]string, len(complete))
	for i, p := range complete {
		names[i] = fmt.Sprintf("%q", p.Name)
	}
	for _, f := range required {
		hasFree := slices.ContainsFunc(complete, func(p *poolState) bool {
			_, ok := a.pickIn(p, f, req, cur)
			return ok
		})
		if hasFree {
			continue
		}
		if len(complete) == 1 {
			return errorOf(ErrExhausted, "no free %v address in pool %q", f, complete[0].Name)
		}
		return errorOf(ErrExhausted, "no free %v address in pools %s", f, strings.Join(names, ", "))
	}
	return errorOf(ErrExhausted, "no pool has free addresses for both %v and %v (pools %s)", required[0], required[1], strings.Join(names, ", "))
}
