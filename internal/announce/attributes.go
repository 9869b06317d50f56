package announce

import (
	"net/netip"
	"slices"

	"github.com/bgplb/bgplb/internal/bgp"
)

// merger merges the advertisements announcing one prefix to one peer into
// a path. It carves the paths' slices and pointers out of larger blocks,
// which saves one allocation per attribute and path; each carved slice has
// its capacity cut to its length, so appending to one never writes into
// another.
type merger struct {
	comms  block[uint32]
	large  block[LargeCommunity]
	values block[uint32] // LocalPref, MED and prepends
}

// merge returns the path for prefix toward peer from the advertisements in
// use, which agree on LOCAL_PREF and MED. A draining path gets the
// GracefulShutdown community and, toward an iBGP peer, LOCAL_PREF 0 in
// place of any configured one.
func (m *merger) merge(prefix netip.Prefix, peer Peer, use []*active, draining bool) bgp.Path {
	p := bgp.Path{Prefix: prefix}
	m.setPreferences(&p, peer, use, draining)
	m.setCommunities(&p, use, draining)
	m.setPrepend(&p, peer, use)
	return p
}

// setPreferences sets LOCAL_PREF, toward iBGP peers only, and MED from
// the first advertisement of use that sets each; a draining path gets
// LOCAL_PREF 0 instead.
func (m *merger) setPreferences(p *bgp.Path, peer Peer, use []*active, draining bool) {
	if draining && peer.IBGP() {
		p.LocalPref = &m.values.take(1)[0]
	}
	for _, a := range use {
		if a.LocalPref != nil && peer.IBGP() && p.LocalPref == nil {
			p.LocalPref = &m.values.take(1)[0]
			*p.LocalPref = *a.LocalPref
		}
		if a.MED != nil && p.MED == nil {
			p.MED = &m.values.take(1)[0]
			*p.MED = *a.MED
		}
	}
}

// setCommunities unites the communities and large communities of use,
// adding GracefulShutdown to a draining path, sorted and free of
// duplicates.
func (m *merger) setCommunities(p *bgp.Path, use []*active, draining bool) {
	var comms, large int
	if draining {
		comms++
	}
	for _, a := range use {
		comms += len(a.communities)
		large += len(a.large)
	}
	p.Communities = m.comms.take(comms)[:0]
	p.LargeCommunities = m.large.take(large)[:0]
	for _, a := range use {
		p.Communities = append(p.Communities, a.communities...)
		p.LargeCommunities = append(p.LargeCommunities, a.large...)
	}
	if draining {
		p.Communities = append(p.Communities, GracefulShutdown.Uint32())
	}
	// The communities of a single advertisement are sorted and free of
	// duplicates already.
	if len(use) > 1 || draining {
		slices.Sort(p.Communities)
		p.Communities = slices.Clip(slices.Compact(p.Communities))
	}
	if len(use) > 1 {
		slices.SortFunc(p.LargeCommunities, compareLargeCommunity)
		p.LargeCommunities = slices.Clip(slices.Compact(p.LargeCommunities))
	}
}

// setPrepend sets the AS path prepend of use that is longest, then has
// the lowest ASN; an ASN of 0 stands for the peer's local ASN.
func (m *merger) setPrepend(p *bgp.Path, peer Peer, use []*active) {
	var count int
	var asn uint32
	for _, a := range use {
		if a.prepend == 0 {
			continue
		}
		as := a.ASPathPrepend.ASN
		if as == 0 {
			as = peer.LocalASN
		}
		if a.prepend > count || (a.prepend == count && as < asn) {
			count, asn = a.prepend, as
		}
	}
	if count > 0 {
		p.ASPathPrepend = m.values.take(count)
		for i := range p.ASPathPrepend {
			p.ASPathPrepend[i] = asn
		}
	}
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
