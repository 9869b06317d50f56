package gobgp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"github.com/bgplb/bgplb/internal/bgp"
)

// reconcile makes the server's paths equal to want: it withdraws what is
// no longer wanted, then advertises what is new or changed. A changed path
// is advertised once, replacing the old one (an implicit withdrawal).
// Invalid paths and paths GoBGP refuses are skipped and reported; the rest
// is applied, and announced always matches the server's RIB.
func (ps *peerServer) reconcile(want []bgp.Path) error {
	wanted, err := bgp.WantedPaths(ps.cfg, want)
	errs := []error{err}

	var withdraw []netip.Prefix
	for pfx := range ps.announced {
		if _, ok := wanted[pfx]; !ok {
			withdraw = append(withdraw, pfx)
		}
	}
	slices.SortFunc(withdraw, comparePrefixes)
	for _, pfx := range withdraw {
		if err := ps.withdraw(ps.announced[pfx]); err != nil {
			errs = append(errs, fmt.Errorf("withdraw %v: %w", pfx, err))
			continue
		}
		delete(ps.announced, pfx)
	}

	// Only new and changed paths are sorted: in steady state most of a
	// large table is unchanged.
	var advertise []bgp.Path
	for pfx, p := range wanted {
		if old, ok := ps.announced[pfx]; !ok || !old.Equal(p) {
			advertise = append(advertise, p)
		}
	}
	slices.SortFunc(advertise, func(a, b bgp.Path) int { return comparePrefixes(a.Prefix, b.Prefix) })
	for _, p := range advertise {
		if err := ps.advertise(p); err != nil {
			errs = append(errs, fmt.Errorf("advertise %v: %w", p.Prefix, err))
			continue
		}
		ps.announced[p.Prefix] = p.Clone()
	}
	return errors.Join(errs...)
}

func (ps *peerServer) advertise(p bgp.Path) error {
	path, err := apiPath(ps.cfg, p)
	if err != nil {
		return err
	}
	// One path per call: AddPath does not say which paths of a batch
	// failed.
	_, err = ps.srv.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{path}})
	return err
}

// withdraw withdraws p, which the server announces. GoBGP wants a
// withdrawal to carry the attributes of the path it withdraws (at least its
// next hop), so it gets the same path marked as a withdrawal.
func (ps *peerServer) withdraw(p bgp.Path) error {
	path, err := apiPath(ps.cfg, p)
	if err != nil {
		return err
	}
	path.Withdrawal = true
	return ps.srv.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{path}})
}

// apiPath is the GoBGP path for p as announced to peer: origin IGP, the
// peer's next hop of the prefix's family (NEXT_HOP for IPv4, MP_REACH_NLRI
// for IPv6, also over an IPv4 session), an AS_PATH holding only the
// prepends (GoBGP adds the local ASN towards eBGP peers), communities,
// large communities, and LOCAL_PREF and MED if set.
func apiPath(peer bgp.Peer, p bgp.Path) (*apiutil.Path, error) {
	nlri, err := gobgp.NewIPAddrPrefix(p.Prefix)
	if err != nil {
		return nil, err
	}
	fam := family(p.Prefix)
	nextHop := peer.NextHopFor(p.Prefix)
	attrs := []gobgp.PathAttributeInterface{gobgp.NewPathAttributeOrigin(gobgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	if fam == gobgp.RF_IPv4_UC {
		nh, err := gobgp.NewPathAttributeNextHop(nextHop)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, nh)
	} else {
		mp, err := gobgp.NewPathAttributeMpReachNLRI(fam, []gobgp.PathNLRI{{NLRI: nlri}}, nextHop)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, mp)
	}
	var segments []gobgp.AsPathParamInterface
	if len(p.ASPathPrepend) > 0 {
		segments = append(segments, gobgp.NewAs4PathParam(gobgp.BGP_ASPATH_ATTR_TYPE_SEQ, slices.Clone(p.ASPathPrepend)))
	}
	attrs = append(attrs, gobgp.NewPathAttributeAsPath(segments))
	if p.MED != nil {
		attrs = append(attrs, gobgp.NewPathAttributeMultiExitDisc(*p.MED))
	}
	if p.LocalPref != nil {
		attrs = append(attrs, gobgp.NewPathAttributeLocalPref(*p.LocalPref))
	}
	if len(p.Communities) > 0 {
		attrs = append(attrs, gobgp.NewPathAttributeCommunities(slices.Clone(p.Communities)))
	}
	if len(p.LargeCommunities) > 0 {
		large := make([]*gobgp.LargeCommunity, 0, len(p.LargeCommunities))
		for _, c := range p.LargeCommunities {
			large = append(large, gobgp.NewLargeCommunity(c.Global, c.Local1, c.Local2))
		}
		attrs = append(attrs, gobgp.NewPathAttributeLargeCommunities(large))
	}
	if p.Weight > 0 {
		// The link-bandwidth community carries a 2-byte ASN; a 4-byte
		// one is written as AS_TRANS (RFC 6793). Routers compare the
		// bandwidths of a prefix's paths, so only their ratio matters:
		// each unit of weight is 1 Mbit/s.
		asn := uint16(asTrans)
		if peer.LocalASN <= 0xffff {
			asn = uint16(peer.LocalASN)
		}
		bandwidth := float32(p.Weight) * 1e6 / 8 // bytes per second
		attrs = append(attrs, gobgp.NewPathAttributeExtendedCommunities([]gobgp.ExtendedCommunityInterface{
			gobgp.NewLinkBandwidthExtended(asn, bandwidth)}))
	}
	// Family must be set: AddPath refuses a path without it (GoBGP's
	// library example leaves it out).
	return &apiutil.Path{Family: fam, Nlri: nlri, Attrs: attrs}, nil
}

// asTrans stands for a 4-byte ASN where only two bytes fit (RFC 6793).
const asTrans = 23456

func family(pfx netip.Prefix) gobgp.Family {
	if pfx.Addr().Is4() {
		return gobgp.RF_IPv4_UC
	}
	return gobgp.RF_IPv6_UC
}

func comparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
