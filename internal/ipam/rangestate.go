package ipam

import "net/netip"

// This file finds the lowest free address of one range in O(log n).

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
