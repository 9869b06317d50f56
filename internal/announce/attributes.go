package announce

import (
	"net/netip"
	"slices"
)

// merger merges the advertisements announcing one prefix to one peer into
// a path. It carves the paths' slices and pointers out of larger blocks,
// which saves one allocation per attribute and path; each carved slice has
// its capacity cut to its length, so appending to one never writes into
// another.
type merger struct {
	use    []*active
	comms  block[Community]
	large  block[LargeCommunity]
	values block[uint32] // LocalPref, MED and prepends
}

// merge returns the path for prefix toward peer from the advertisements in
// m.use, which agree on LOCAL_PREF and MED. A draining path gets the
// GracefulShutdown community and, toward an iBGP peer, LOCAL_PREF 0 in
// place of any configured one.
func (m *merger) merge(prefix netip.Prefix, peer Peer, draining bool) Path {
	p := Path{Prefix: prefix, Draining: draining}
	var prependCount int
	var prependASN uint32
	var comms, large int
	if draining {
		comms++
		if peer.IBGP() {
			p.LocalPref = &m.values.take(1)[0]
		}
	}
	for _, a := range m.use {
		comms += len(a.communities)
		large += len(a.large)
		if a.LocalPref != nil && peer.IBGP() && p.LocalPref == nil {
			p.LocalPref = &m.values.take(1)[0]
			*p.LocalPref = *a.LocalPref
		}
		if a.MED != nil && p.MED == nil {
			p.MED = &m.values.take(1)[0]
			*p.MED = *a.MED
		}
		if a.prepend > 0 {
			asn := a.ASPathPrepend.ASN
			if asn == 0 {
				asn = peer.LocalASN
			}
			if a.prepend > prependCount || (a.prepend == prependCount && asn < prependASN) {
				prependCount, prependASN = a.prepend, asn
			}
		}
	}
	p.Communities = m.comms.take(comms)[:0]
	p.LargeCommunities = m.large.take(large)[:0]
	for _, a := range m.use {
		p.Communities = append(p.Communities, a.communities...)
		p.LargeCommunities = append(p.LargeCommunities, a.large...)
	}
	if draining {
		p.Communities = append(p.Communities, GracefulShutdown)
	}
	if len(m.use) > 1 || draining {
		slices.SortFunc(p.Communities, compareCommunity)
		p.Communities = slices.Clip(slices.Compact(p.Communities))
	}
	if len(m.use) > 1 {
		slices.SortFunc(p.LargeCommunities, compareLargeCommunity)
		p.LargeCommunities = slices.Clip(slices.Compact(p.LargeCommunities))
	}
	if prependCount > 0 {
		p.ASPathPrepend = m.values.take(prependCount)
		for i := range p.ASPathPrepend {
			p.ASPathPrepend[i] = prependASN
		}
	}
	return p
}

// block hands out small slices of a larger allocation.
type block[T any] struct{ free []T }

// blockSize is how many elements a block allocates at a time.
const blockSize = 1024

// take returns a slice of n zero elements whose capacity is n, or nil if n
// is 0.
func (b *block[T]) take(n int) []T {
	if n == 0 {
		return nil
	}
	if len(b.free) < n {
		b.free = make([]T, max(n, blockSize))
	}
	s := b.free[:n:n]
	b.free = b.free[n:]
	return s
}
