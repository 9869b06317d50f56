package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Allocator assigns addresses from pools to Services and remembers who holds
// what.
//
// An Allocator is not safe for concurrent use. It is meant to be owned by a
// single goroutine (the controller's reconcile loop), which keeps every
// decision sequential and deterministic without locks; a caller that needs
// concurrency must serialise access itself.
//
// The zero Allocator is ready to use and has no pools; NewAllocator exists
// for symmetry with the rest of the code base.
type Allocator struct {
	pools      []*poolState // accepted pools, in the order SetPools got them
	poolByName map[string]*poolState
	autoOrder  []*poolState  // accepted pools by priority, then name
	ranges     []*rangeState // every accepted range, by family, then address
	rejected   map[string]error

	byAddr       map[netip.Addr]holders
	byKey        map[string]*holding
	bySharingKey map[string]map[string]*holding
}

// FamilyUsage is how many addresses of one family a pool has handed out and
// how many it can still hand out.
type FamilyUsage struct {
	// Assigned counts distinct addresses; an address shared by several
	// Services counts once.
	Assigned uint64
	// Available saturates at math.MaxUint64 and excludes addresses the pool
	// never hands out (.0 and .255 with AvoidBuggyIPs, and IPv6
	// subnet-router anycast addresses).
	Available uint64
}

// NewAllocator returns an allocator with no pools.
func NewAllocator() *Allocator {
	a := &Allocator{}
	a.init()
	return a
}

func (a *Allocator) init() {
	if a.byAddr == nil {
		a.byAddr = make(map[netip.Addr]holders)
		a.byKey = make(map[string]*holding)
		a.bySharingKey = make(map[string]map[string]*holding)
	}
}

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
	reject := func(name string, err error) {
		if rejected == nil {
			rejected = make(map[string]error)
		}
		if prev := rejected[name]; prev != nil {
			err = errors.Join(prev, err)
		}
		rejected[name] = err
	}

	// Deduplicate, then order: pools in use first, as they were, then the
	// new ones as given.
	var unique []Pool
	seen := make(map[string]bool, len(pools))
	for _, p := range pools {
		if seen[p.Name] {
			reject(p.Name, errorOf(ErrInvalidPool, "pool %q is defined more than once; only the first definition counts", p.Name))
			continue
		}
		seen[p.Name] = true
		unique = append(unique, p)
	}
	rank := make(map[string]int, len(a.pools))
	for i, ps := range a.pools {
		rank[ps.Name] = i
	}
	slices.SortStableFunc(unique, func(x, y Pool) int {
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

	// effective holds the version of each pool in use; it starts with the
	// previous versions of the pools that still exist.
	effective := make(map[string]Pool, len(unique))
	for _, p := range unique {
		if old, ok := a.poolByName[p.Name]; ok {
			effective[p.Name] = old.Pool
		}
	}
	for _, p := range unique {
		others := make([]Pool, 0, len(effective))
		for _, q := range unique {
			if e, ok := effective[q.Name]; ok && q.Name != p.Name {
				others = append(others, e)
			}
		}
		err := validatePool(&p, others)
		if err == nil {
			effective[p.Name] = p.clone()
			continue
		}
		if _, inUse := effective[p.Name]; inUse {
			err = &kindError{kind: err, msg: err.Error() + "; the pool keeps its previous version"}
		}
		reject(p.Name, err)
	}

	var accepted []*poolState
	byName := make(map[string]*poolState, len(effective))
	for _, p := range unique {
		e, ok := effective[p.Name]
		if !ok {
			continue
		}
		ps := newPoolState(e, a.poolByName[p.Name])
		accepted = append(accepted, ps)
		byName[p.Name] = ps
	}

	a.pools = accepted
	a.poolByName = byName
	a.rejected = rejected
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

	for key, h := range a.byKey {
		if !a.stillFits(h) {
			moved = append(moved, key)
		}
	}
	slices.Sort(moved)
	for _, key := range moved {
		a.Release(key)
	}
	return rejected, moved
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

// rangeOf returns the accepted range containing addr, or nil.
func (a *Allocator) rangeOf(addr netip.Addr) *rangeState {
	f := FamilyOf(addr)
	if f == 0 || addr.Zone() != "" || addr.Is4In6() {
		return nil
	}
	v := u128Of(addr)
	i, _ := slices.BinarySearchFunc(a.ranges, v, func(rs *rangeState, v u128) int {
		if rs.family != f {
			return int(rs.family) - int(f)
		}
		return rs.last.cmp(v)
	})
	if i < len(a.ranges) {
		if rs := a.ranges[i]; rs.family == f && !v.less(rs.first) {
			return rs
		}
	}
	return nil
}

// usableIn reports whether p may hand out addr.
func (a *Allocator) usableIn(p *poolState, addr netip.Addr) bool {
	rs := a.rangeOf(addr)
	return rs != nil && rs.pool == p && !rs.avoided(u128Of(addr))
}

// countedRange returns the range of addr if addr counts as assigned in the
// pool named poolName.
func (a *Allocator) countedRange(addr netip.Addr, poolName string) *rangeState {
	rs := a.rangeOf(addr)
	if rs == nil || rs.pool.Name != poolName || rs.avoided(u128Of(addr)) {
		return nil
	}
	return rs
}

// namedPool returns the accepted pool called name.
func (a *Allocator) namedPool(name string) (*poolState, error) {
	if p := a.poolByName[name]; p != nil {
		return p, nil
	}
	if err := a.rejected[name]; err != nil {
		return nil, errorOf(ErrNoPool, "pool %q is not in use because it was rejected: %v", name, err)
	}
	return nil, errorOf(ErrNoPool, "pool %q does not exist", name)
}

// Adopt records addresses a Service already has (from its status) at
// start-up, before anything new is assigned, so that a restarted controller
// keeps every Service's address.
//
// It succeeds only if every address lies in one accepted pool that the
// Service may use (AutoAssign does not matter here, and neither do the
// Service's requested addresses or pool: Assign reconciles those
// afterwards), the addresses fit the Service's families, the pool does not
// avoid them, and sharing with Services adopted before is allowed. Otherwise
// it records nothing and returns an error. Adopting again for the same key
// replaces the earlier assignment.
func (a *Allocator) Adopt(svc Service, addrs []netip.Addr) (Assignment, error) {
	a.init()
	var req request
	if err := req.init(&svc, addrs); err != nil {
		return Assignment{}, err
	}
	ordered, err := req.orderAddrs(addrs, "address")
	if err != nil {
		return Assignment{}, err
	}
	pool, picks, err := a.checkAddrs(&req, ordered, "")
	if err != nil {
		return Assignment{}, err
	}
	return a.commit(&req, pool, picks), nil
}

// Assign gives svc an assignment.
//
// Assign is idempotent: if the Service already holds an assignment that
// still satisfies it (requested addresses and pool, families, pool still
// allowing it and still containing the addresses, sharing still compatible)
// it returns that assignment unchanged. A PreferDualStack Service holding
// only its primary family keeps its assignment unless its pool can now
// supply the missing family, in which case the family is added.
//
// Otherwise it computes a new assignment. On error the previous assignment,
// if any, is kept, so a failed update never loses an address. On success
// previous addresses that are not part of the new assignment are released.
func (a *Allocator) Assign(svc Service) (Assignment, error) {
	a.init()
	var req request
	if err := req.init(&svc, svc.RequestedAddrs); err != nil {
		return Assignment{}, err
	}
	var requested []netip.Addr
	if len(svc.RequestedAddrs) > 0 {
		var err error
		if requested, err = req.orderAddrs(svc.RequestedAddrs, "requested address"); err != nil {
			return Assignment{}, err
		}
	}
	cur := a.byKey[svc.Key]
	if cur != nil && a.satisfies(&req, requested, cur) {
		a.retag(cur, &req)
		return cur.asg.clone(), nil
	}
	var pool *poolState
	var picks []pick
	var err error
	if requested != nil {
		pool, picks, err = a.checkAddrs(&req, requested, req.RequestedPool)
	} else {
		pool, picks, err = a.choose(&req, cur)
	}
	if err != nil {
		return Assignment{}, err
	}
	return a.commit(&req, pool, picks), nil
}

// Release forgets the Service's assignment and frees every address it was
// the last holder of. It reports whether the Service had an assignment.
func (a *Allocator) Release(key string) bool {
	h := a.byKey[key]
	if h == nil {
		return false
	}
	for _, addr := range h.asg.Addrs {
		a.unhold(addr, h, h.asg.Pool)
	}
	delete(a.byKey, key)
	a.untag(h)
	return true
}

// Assignment returns the Service's current assignment.
func (a *Allocator) Assignment(key string) (Assignment, bool) {
	h := a.byKey[key]
	if h == nil {
		return Assignment{}, false
	}
	return h.asg.clone(), true
}

// Usage reports, per family the pool has ranges for, how many addresses of
// the pool are assigned and how many are still available. It returns nil for
// a pool that is not in use.
func (a *Allocator) Usage(pool string) map[Family]FamilyUsage {
	p := a.poolByName[pool]
	if p == nil {
		return nil
	}
	usage := make(map[Family]FamilyUsage, 2)
	for fi, f := range families {
		if len(p.ranges[fi]) == 0 {
			continue
		}
		assigned := p.assigned[fi]
		usage[f] = FamilyUsage{
			Assigned:  assigned,
			Available: p.usable[fi].sub(u128{lo: assigned}).saturate(),
		}
	}
	return usage
}

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
		if len(a.pools) == 0 {
			return nil, errorOf(ErrNoPool, "no address pools are configured")
		}
		// Say why for every pool; this runs only on failure.
		var refusals []string
		for _, p := range a.autoOrder {
			if !p.AutoAssign {
				refusals = append(refusals, fmt.Sprintf("pool %q does not assign automatically", p.Name))
			} else if err := p.allows(req); err != nil {
				refusals = append(refusals, err.Error())
			}
		}
		return nil, errorOf(ErrNotAllowed, "no pool can assign an address to %s automatically: %s", req.Key, strings.Join(refusals, "; "))
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

// commit records the assignment of picks in pool to req, replacing the
// Service's previous assignment.
func (a *Allocator) commit(req *request, pool *poolState, picks []pick) Assignment {
	h := a.byKey[req.Key]
	var old Assignment
	if h == nil {
		h = &holding{}
		a.byKey[req.Key] = h
	} else {
		old = h.asg
	}
	addrs := make([]netip.Addr, len(picks))
	for i, pk := range picks {
		addrs[i] = pk.addr
		if !slices.Contains(old.Addrs, pk.addr) {
			a.hold(pk, h, pool.Name)
		}
	}
	for _, addr := range old.Addrs {
		if !slices.Contains(addrs, addr) {
			a.unhold(addr, h, old.Pool)
		}
	}
	h.asg = Assignment{Pool: pool.Name, Addrs: addrs}
	a.retag(h, req)
	return h.asg.clone()
}

// hold adds h as a holder of pk.addr.
func (a *Allocator) hold(pk pick, h *holding, poolName string) {
	hs, existed := a.byAddr[pk.addr]
	hs.add(h)
	a.byAddr[pk.addr] = hs
	if existed {
		return
	}
	if pk.fresh != nil {
		pk.fresh.take(u128Of(pk.addr))
	}
	if rs := a.countedRange(pk.addr, poolName); rs != nil {
		rs.pool.assigned[familyIndex(rs.family)]++
	}
}

// unhold removes h as a holder of addr and frees addr if h was the last.
func (a *Allocator) unhold(addr netip.Addr, h *holding, poolName string) {
	hs, ok := a.byAddr[addr]
	if !ok {
		return
	}
	if hs.remove(h) {
		a.byAddr[addr] = hs
		return
	}
	delete(a.byAddr, addr)
	if rs := a.countedRange(addr, poolName); rs != nil {
		rs.pool.assigned[familyIndex(rs.family)]--
		rs.free(u128Of(addr))
	}
}

// retag refreshes h's sharing fields from req and keeps the sharing-key
// index in step.
func (a *Allocator) retag(h *holding, req *request) {
	if h.sharingKey != req.SharingKey {
		a.untag(h)
	}
	h.update(req)
	if h.sharingKey != "" {
		byKey := a.bySharingKey[h.sharingKey]
		if byKey == nil {
			byKey = make(map[string]*holding)
			a.bySharingKey[h.sharingKey] = byKey
		}
		byKey[h.key] = h
	}
}

func (a *Allocator) untag(h *holding) {
	if h.sharingKey == "" {
		return
	}
	if byKey := a.bySharingKey[h.sharingKey]; byKey != nil {
		delete(byKey, h.key)
		if len(byKey) == 0 {
			delete(a.bySharingKey, h.sharingKey)
		}
	}
}
