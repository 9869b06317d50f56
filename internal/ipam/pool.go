package ipam

import (
	"net/netip"
	"slices"
)

// LabelMatcher lets the caller plug in Kubernetes label selectors without
// this package importing Kubernetes.
type LabelMatcher interface {
	Matches(labels map[string]string) bool
}

// Pool is a named set of address ranges and the rules for who may use them.
type Pool struct {
	Name string
	// Ranges are the pool's addresses. IPv6 ranges never hand out their
	// subnet-router anycast addresses (see "Addresses a pool never hands
	// out" in the package documentation).
	Ranges []Range
	// AutoAssign false means the pool is only used when a Service asks for
	// it by name or asks for an address in it.
	AutoAssign bool
	// AvoidBuggyIPs skips IPv4 addresses ending in .0 and .255, which some
	// old clients and middleboxes mistake for network or broadcast addresses.
	AvoidBuggyIPs bool
	// Priority orders pools for automatic assignment: lower numbers first;
	// 0 means "no priority" and sorts after every pool with a priority; ties
	// are broken by name.
	Priority int
	// Namespaces limits allocation to these namespaces ...
	Namespaces []string
	// ... or to namespaces whose labels match any of these selectors. If
	// both Namespaces and NamespaceSelectors are empty, any namespace may
	// use the pool.
	NamespaceSelectors []LabelMatcher
	// ServiceSelectors, if non-empty, requires the Service's labels to match
	// at least one of them.
	ServiceSelectors []LabelMatcher
}

// clone copies the slices of p so that a caller changing its Pool after
// SetPools cannot change the allocator's view behind its back.
func (p Pool) clone() Pool {
	p.Ranges = slices.Clone(p.Ranges)
	p.Namespaces = slices.Clone(p.Namespaces)
	p.NamespaceSelectors = slices.Clone(p.NamespaceSelectors)
	p.ServiceSelectors = slices.Clone(p.ServiceSelectors)
	return p
}

// poolState is an accepted pool plus the bookkeeping for finding free
// addresses in it.
type poolState struct {
	Pool
	// ranges holds the pool's ranges per family index, sorted by first
	// address, so that "the lowest free address" is simply the first one
	// found.
	ranges [2][]*rangeState
	// usable is the number of addresses per family the pool can hand out
	// (avoided addresses excluded), saturating at the u128 maximum.
	usable [2]u128
	// assigned is the number of distinct addresses per family currently held
	// by at least one Service.
	assigned [2]uint64
}

// hasFamily reports whether the pool has any range of family f.
func (p *poolState) hasFamily(f Family) bool { return len(p.ranges[familyIndex(f)]) > 0 }

// allows reports why the Service may not use p, or nil if it may.
func (p *poolState) allows(req *request) error {
	if len(p.Namespaces) > 0 || len(p.NamespaceSelectors) > 0 {
		if !slices.Contains(p.Namespaces, req.namespace) && !matchesAny(p.NamespaceSelectors, req.NamespaceLabels) {
			return errorOf(ErrNotAllowed, "pool %q does not allow namespace %q", p.Name, req.namespace)
		}
	}
	if len(p.ServiceSelectors) > 0 && !matchesAny(p.ServiceSelectors, req.Labels) {
		return errorOf(ErrNotAllowed, "pool %q does not allow service %s: its labels match none of the pool's service selectors", p.Name, req.Key)
	}
	return nil
}

func matchesAny(matchers []LabelMatcher, labels map[string]string) bool {
	for _, m := range matchers {
		if m.Matches(labels) {
			return true
		}
	}
	return false
}

// autoOrderCompare orders pools for automatic assignment: pools with a priority
// by ascending priority, then pools without one, and by name within a tie.
func autoOrderCompare(a, b *poolState) int {
	ap, bp := a.Priority != 0, b.Priority != 0
	switch {
	case ap && !bp:
		return -1
	case !ap && bp:
		return 1
	case a.Priority < b.Priority:
		return -1
	case a.Priority > b.Priority:
		return 1
	case a.Name < b.Name:
		return -1
	case a.Name > b.Name:
		return 1
	}
	return 0
}

// rangeState finds free addresses in one range of one pool.
//
// Invariant: every free, usable address below next (or every one in the
// range once exhausted is set) is in released. released may also hold
// addresses that were taken again by an explicit request since; those are
// dropped lazily when they reach the top of the heap. Addresses at or above
// next have never been looked at, so the lowest free address is either the
// top of the heap or the first free address from next on.
type rangeState struct {
	Range
	pool        *poolState
	family      Family
	first, last u128
	// avoidBuggy, avoidAnycast and anycastFirst say which addresses of the
	// range the pool never hands out (see avoided).
	avoidBuggy, avoidAnycast, anycastFirst bool

	next      u128
	exhausted bool // next has moved past last
	released  addrHeap
	queued    map[u128]struct{} // addresses in released, so none is pushed twice
}

func newRangeState(r Range, pool *poolState) *rangeState {
	rs := &rangeState{
		Range:      r,
		pool:       pool,
		family:     r.Family(),
		first:      u128Of(r.first),
		last:       u128Of(r.last),
		avoidBuggy: pool.AvoidBuggyIPs && r.Family() == IPv4,
		next:       u128Of(r.first),
	}
	rs.avoidAnycast = rs.family == IPv6 && r.first != r.last
	_, isPrefix := r.prefix()
	rs.anycastFirst = rs.avoidAnycast && isPrefix
	return rs
}

// peek returns the lowest free, usable address of the range without taking
// it. It may drop stale heap entries and move next past used addresses,
// which does not change what is free.
func (rs *rangeState) peek(used map[netip.Addr]holders) (u128, bool) {
	for len(rs.released) > 0 {
		v := rs.released[0]
		if _, taken := used[addrOf(v, rs.family)]; !taken {
			return v, true
		}
		rs.released.pop()
		delete(rs.queued, v)
	}
	for !rs.exhausted {
		v := rs.next
		if !rs.avoided(v) {
			if _, taken := used[addrOf(v, rs.family)]; !taken {
				return v, true
			}
		}
		rs.advance()
	}
	return u128{}, false
}

// take marks v, which peek has just returned, as handed out.
func (rs *rangeState) take(v u128) {
	if len(rs.released) > 0 && rs.released[0] == v {
		rs.released.pop()
		delete(rs.queued, v)
		return
	}
	if !rs.exhausted && rs.next == v {
		rs.advance()
	}
}

// free records that v is no longer held by anyone.
func (rs *rangeState) free(v u128) {
	if rs.avoided(v) {
		return
	}
	if !rs.exhausted && !v.less(rs.next) {
		return // the cursor will reach it
	}
	if _, ok := rs.queued[v]; ok {
		return
	}
	if rs.queued == nil {
		rs.queued = make(map[u128]struct{})
	}
	rs.queued[v] = struct{}{}
	rs.released.push(v)
}

func (rs *rangeState) advance() {
	if rs.next == rs.last {
		rs.exhausted = true
		return
	}
	rs.next = rs.next.add1()
}

// addrHeap is a min-heap of addresses. It is written out rather than built on
// container/heap to avoid boxing every element in an interface.
type addrHeap []u128

func (h *addrHeap) push(v u128) {
	*h = append(*h, v)
	s := *h
	i := len(s) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !s[i].less(s[parent]) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *addrHeap) pop() u128 {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		smallest, l, r := i, 2*i+1, 2*i+2
		if l < n && s[l].less(s[smallest]) {
			smallest = l
		}
		if r < n && s[r].less(s[smallest]) {
			smallest = r
		}
		if smallest == i {
			break
		}
		s[i], s[smallest] = s[smallest], s[i]
		i = smallest
	}
	*h = s
	return top
}
