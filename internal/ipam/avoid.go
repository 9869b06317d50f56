package ipam

import "net/netip"

// This file holds the rules for addresses that lie in a pool's ranges but
// that the pool never hands out, as the package documentation states them
// under "Addresses a pool never hands out": .0 and .255 with AvoidBuggyIPs,
// and IPv6 subnet-router anycast addresses. Every caller asks avoided, so the
// rules apply the same way to automatic assignment, requests, adoption,
// pool changes and counting.

// avoided reports whether the pool never hands out v.
func (rs *rangeState) avoided(v u128) bool {
	switch {
	case rs.avoidBuggy:
		return isBuggy(v)
	case rs.avoidAnycast:
		return isSubnetRouterAnycast(v) || (rs.anycastFirst && v == rs.first)
	}
	return false
}

// isBuggy reports whether the IPv4 address v ends in .0 or .255.
func isBuggy(v u128) bool {
	last := v.lo & 0xff
	return last == 0 || last == 0xff
}

// isSubnetRouterAnycast reports whether the IPv6 address v is the
// subnet-router anycast address of its /64.
func isSubnetRouterAnycast(v u128) bool { return v.lo == 0 }

// refusal says why the pool never hands out addr, quoting it, or returns nil
// if it may.
func (rs *rangeState) refusal(addr netip.Addr) error {
	v := u128Of(addr)
	if !rs.avoided(v) {
		return nil
	}
	if rs.avoidBuggy {
		return errorOf(ErrNotAllowed, "address %q ends in .0 or .255, which pool %q avoids", addr.String(), rs.pool.Name)
	}
	subnet := netip.PrefixFrom(addr, 64).String()
	if rs.anycastFirst && v == rs.first {
		subnet = rs.Range.String()
	}
	return errorOf(ErrNotAllowed, "address %q is the subnet-router anycast address of %s (RFC 4291 section 2.6.1), which routers answer themselves; pool %q never hands it out",
		addr.String(), subnet, rs.pool.Name)
}

// usableCount returns how many addresses of the range may be handed out,
// saturating at the u128 maximum (only ::/0 holds more).
func (rs *rangeState) usableCount() u128 {
	return rs.last.sub(rs.first).add1().sub(rs.avoidedCount())
}

// avoidedCount returns how many addresses of the range the pool never hands
// out.
func (rs *rangeState) avoidedCount() u128 {
	switch {
	case rs.avoidBuggy:
		return rs.buggyCount()
	case rs.avoidAnycast:
		return rs.anycastCount()
	}
	return u128{}
}

// buggyCount returns how many addresses of the IPv4 range end in .0 or .255.
func (rs *rangeState) buggyCount() u128 {
	// upTo counts the .0 and .255 addresses up to and including x.
	upTo := func(x uint64) uint64 {
		n := (x>>8)*2 + 1
		if x&0xff == 0xff {
			n++
		}
		return n
	}
	buggy := upTo(rs.last.lo) - upTo(rs.first.lo)
	if isBuggy(rs.first) {
		buggy++
	}
	return u128{lo: buggy}
}

// anycastCount returns how many subnet-router anycast addresses the IPv6
// range avoids.
func (rs *rangeState) anycastCount() u128 {
	// Every /64 that starts after first and no later than last contributes
	// its all-zero address, and so does first's own /64 if first is that
	// address.
	n := u128{lo: rs.last.hi - rs.first.hi}
	if isSubnetRouterAnycast(rs.first) || rs.anycastFirst {
		n = n.addSat(u128{lo: 1})
	}
	return n
}
