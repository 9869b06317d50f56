package bgp

import "slices"

// Equal reports whether p and q announce the same prefix with the same
// attributes. Nil and empty lists are equal; the order of communities
// matters, as it does on the wire.
func (p Path) Equal(q Path) bool {
	return p.Prefix == q.Prefix &&
		slices.Equal(p.Communities, q.Communities) &&
		slices.Equal(p.LargeCommunities, q.LargeCommunities) &&
		optionalEqual(p.LocalPref, q.LocalPref) &&
		optionalEqual(p.MED, q.MED) &&
		slices.Equal(p.ASPathPrepend, q.ASPathPrepend)
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
