package bgp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Equal reports whether p and q announce the same prefix with the same
// attributes. Nil and empty lists are equal; the order of communities
// matters, as it does on the wire.
func (p Path) Equal(q Path) bool {
	return p.Prefix == q.Prefix &&
		slices.Equal(p.Communities, q.Communities) &&
		slices.Equal(p.LargeCommunities, q.LargeCommunities) &&
		optionalEqual(p.LocalPref, q.LocalPref) &&
		optionalEqual(p.MED, q.MED) &&
		slices.Equal(p.ASPathPrepend, q.ASPathPrepend) &&
		p.Weight == q.Weight
}

// Clone returns a copy of p that shares no memory with it.
func (p Path) Clone() Path {
	p.Communities = slices.Clone(p.Communities)
	p.LargeCommunities = slices.Clone(p.LargeCommunities)
	p.ASPathPrepend = slices.Clone(p.ASPathPrepend)
	if p.LocalPref != nil {
		v := *p.LocalPref
		p.LocalPref = &v
	}
	if p.MED != nil {
		v := *p.MED
		p.MED = &v
	}
	return p
}

func optionalEqual(a, b *uint32) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// NextHopFor returns the peer's next hop for the family of prefix, or the
// zero Addr if it has none.
func (p Peer) NextHopFor(prefix netip.Prefix) netip.Addr {
	if prefix.Addr().Is4() {
		return p.NextHopIPv4.Unmap()
	}
	return p.NextHopIPv6
}

// WantedPaths returns the valid paths of want by prefix; the error lists
// the invalid ones: a prefix that is not masked (or an IPv4-mapped IPv6
// one), a family the peer has no next hop for, or a prefix listed twice
// (the first counts). Every Engine applies these rules.
func WantedPaths(p Peer, want []Path) (map[netip.Prefix]Path, error) {
	out := make(map[netip.Prefix]Path, len(want))
	var errs []error
	for _, path := range want {
		switch {
		case !path.Prefix.IsValid() || path.Prefix != path.Prefix.Masked() || path.Prefix.Addr().Is4In6():
			errs = append(errs, fmt.Errorf("prefix %v is not a valid masked prefix", path.Prefix))
		case !p.NextHopFor(path.Prefix).IsValid():
			errs = append(errs, fmt.Errorf("prefix %v: the peer has no next hop of its family", path.Prefix))
		default:
			if _, dup := out[path.Prefix]; dup {
				errs = append(errs, fmt.Errorf("prefix %v is listed more than once; the first is used", path.Prefix))
				continue
			}
			out[path.Prefix] = path
		}
	}
	return out, errors.Join(errs...)
}
