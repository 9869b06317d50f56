package ipam

import (
	"math/big"
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

// Capacity returns, per family the pool has ranges of, how many addresses
// the pool hands out when none is assigned: the addresses of its ranges less
// those it never hands out. Unlike Usage it is exact at any size, so that a
// caller can show the size of an IPv6 pool too large for a uint64. It does
// not check the pool: overlapping ranges are counted twice.
func (p Pool) Capacity() map[Family]*big.Int {
	state := &poolState{Pool: p}
	capacity := make(map[Family]*big.Int, 2)
	for _, r := range p.Ranges {
		if !r.IsValid() {
			continue
		}
		rs := newRangeState(r, state)
		n := rs.last.big()
		n.Sub(n, rs.first.big())
		n.Add(n, big.NewInt(1))
		n.Sub(n, rs.avoidedCount().big())
		if sum := capacity[rs.family]; sum != nil {
			n.Add(n, sum)
		}
		capacity[rs.family] = n
	}
	return capacity
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
