package ipam

import (
	"net/netip"
	"slices"
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
