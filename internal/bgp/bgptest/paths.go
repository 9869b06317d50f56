package bgptest

import (
	"context"
	"net/netip"
	"testing"

	"github.com/bgplb/bgplb/internal/bgp"
)

// refusedPaths sends paths, which holds something invalid, and fails the
// test unless the call fails naming every one of faults and announces
// exactly want.
func refusedPaths(t *testing.T, e bgp.Engine, paths, want announced, faults ...string) {
	t.Helper()
	resp, err := e.ReconcilePaths(context.Background(), bgp.ReconcilePathsRequest{Paths: paths})
	wantError(t, "ReconcilePaths", err, faults...)
	wantAnnounced(t, "the response", resp.Announced, want)
}

func pathCases() []suiteCase {
	return []suiteCase{
		{"each peer announces its own paths, in prefix order", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"), peer("b"))
			got := reconcilePaths(t, e, announced{"a": {path(webV6), path(dbV4), path(webV4)}, "b": {path(dbV4)}})
			wantAnnounced(t, "the response", got, announced{"a": {path(webV4), path(dbV4), path(webV6)}, "b": {path(dbV4)}})
			wantAnnouncedCounts(t, e, map[string]int{"a": 3, "b": 1})
		}},
		{"a peer without paths is not in the response", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"), peer("b"))
			got := reconcilePaths(t, e, announced{"a": {path(webV4)}, "b": {}})
			wantAnnounced(t, "the response", got, announced{"a": {path(webV4)}})
		}},
		{"the same request twice announces the same paths", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"))
			req := announced{"a": {path(webV4, 100), path(dbV4)}}
			first := reconcilePaths(t, e, req)
			wantAnnounced(t, "the second response", reconcilePaths(t, e, req), first)
		}},
		{"a prefix listed twice is announced once, with its first attributes", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"))
			refusedPaths(t, e, announced{"a": {path(webV4, 1), path(webV4, 2), path(dbV4)}},
				announced{"a": {path(webV4, 1), path(dbV4)}}, "listed more than once")
		}},
		{"a prefix with host bits set is refused and the rest is announced", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"))
			refusedPaths(t, e, announced{"a": {path(netip.MustParsePrefix("203.0.113.10/24")), path(dbV4)}},
				announced{"a": {path(dbV4)}}, "203.0.113.10/24", "not a valid masked prefix")
		}},
		{"a path without a prefix is refused and the rest is announced", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"))
			refusedPaths(t, e, announced{"a": {{}, path(dbV4)}}, announced{"a": {path(dbV4)}}, "not a valid masked prefix")
		}},
		{"the engine keeps no reference to the request or the response", keepsNoReference},
	}
}

// keepsNoReference changes the request and the response after the call
// and checks that what the engine announces did not change with them.
func keepsNoReference(t *testing.T, e bgp.Engine) {
	reconcilePeers(t, e, peer("a"))
	want := announced{"a": {{Prefix: webV4, Communities: []uint32{1}, MED: u32(5), ASPathPrepend: []uint32{64512}}}}
	req := announced{"a": {{Prefix: webV4, Communities: []uint32{1}, MED: u32(5), ASPathPrepend: []uint32{64512}}}}
	got := reconcilePaths(t, e, req)
	req["a"][0].Communities[0], *req["a"][0].MED, req["a"][0].ASPathPrepend[0] = 2, 6, 1
	got["a"][0].Communities[0], *got["a"][0].MED = 3, 7
	// A request that lists the path as it was first asked for must find
	// it unchanged: the response shows what is announced after the call.
	wantAnnounced(t, "after changing the request and the response", reconcilePaths(t, e, want), want)
}

func familyCases() []suiteCase {
	return []suiteCase{
		{"an IPv6 path to a peer without an IPv6 next hop is refused, its IPv4 paths are not", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, changed("a", func(p *bgp.Peer) { p.NextHopIPv6 = netip.Addr{} }))
			refusedPaths(t, e, announced{"a": {path(webV4), path(webV6)}}, announced{"a": {path(webV4)}},
				webV6.String(), "no next hop of its family")
		}},
		{"an IPv4 path to a peer without an IPv4 next hop is refused, its IPv6 paths are not", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, changed("a", func(p *bgp.Peer) { p.NextHopIPv4 = netip.Addr{} }))
			refusedPaths(t, e, announced{"a": {path(webV4), path(webV6)}}, announced{"a": {path(webV6)}},
				webV4.String(), "no next hop of its family")
		}},
		{"an IPv4-mapped IPv6 prefix is refused", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"))
			mapped := netip.PrefixFrom(netip.AddrFrom16(webV4.Addr().As16()), 128)
			refusedPaths(t, e, announced{"a": {path(mapped), path(webV6)}}, announced{"a": {path(webV6)}}, "not a valid masked prefix")
		}},
		{"a peer that loses its IPv6 next hop loses its IPv6 paths", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"))
			reconcilePaths(t, e, announced{"a": {path(webV4), path(webV6)}})
			reconcilePeers(t, e, changed("a", func(p *bgp.Peer) { p.NextHopIPv6 = netip.Addr{} }))
			wantAnnouncedCounts(t, e, map[string]int{"a": 1})
			refusedPaths(t, e, announced{"a": {path(webV4), path(webV6)}}, announced{"a": {path(webV4)}}, "no next hop of its family")
		}},
	}
}

func withdrawalCases() []suiteCase {
	return []suiteCase{
		{"a path no longer requested is withdrawn", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"))
			reconcilePaths(t, e, announced{"a": {path(webV4), path(dbV4)}})
			wantAnnounced(t, "the response", reconcilePaths(t, e, announced{"a": {path(dbV4)}}), announced{"a": {path(dbV4)}})
			wantAnnouncedCounts(t, e, map[string]int{"a": 1})
		}},
		{"a peer absent from the request has every path withdrawn", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"), peer("b"))
			reconcilePaths(t, e, announced{"a": {path(webV4), path(dbV4)}, "b": {path(dbV4)}})
			wantAnnounced(t, "the response", reconcilePaths(t, e, announced{"b": {path(dbV4)}}), announced{"b": {path(dbV4)}})
			wantAnnouncedCounts(t, e, map[string]int{"a": 0, "b": 1})
		}},
		{"withdrawing paths that were never announced is no error", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"))
			wantAnnounced(t, "an empty list", reconcilePaths(t, e, announced{"a": {}}), announced{})
			wantAnnounced(t, "an empty request", reconcilePaths(t, e, announced{}), announced{})
		}},
		{"paths for a peer that is not configured are reported and the rest is announced", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"))
			refusedPaths(t, e, announced{"a": {path(webV4)}, "ghost": {path(dbV4)}}, announced{"a": {path(webV4)}},
				`peer "ghost" is not configured`)
		}},
		{"a withdrawal for a peer that is not configured is reported", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"))
			refusedPaths(t, e, announced{"ghost": {}}, announced{}, `peer "ghost" is not configured`)
		}},
		{"a removed peer's paths go with it, and it comes back without them", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"), peer("b"))
			reconcilePaths(t, e, announced{"a": {path(webV4)}, "b": {path(dbV4)}})
			reconcilePeers(t, e, peer("a"))
			wantAnnounced(t, "without b", reconcilePaths(t, e, announced{"a": {path(webV4)}}), announced{"a": {path(webV4)}})
			reconcilePeers(t, e, peer("a"), peer("b"))
			wantAnnouncedCounts(t, e, map[string]int{"b": 0})
			wantAnnounced(t, "with b back", reconcilePaths(t, e, announced{"a": {path(webV4)}, "b": {}}), announced{"a": {path(webV4)}})
		}},
	}
}

// attributeChange is a path and the same prefix with other attributes.
type attributeChange struct {
	name          string
	before, after bgp.Path
}

func attributeChanges() []attributeChange {
	with := func(change func(*bgp.Path)) bgp.Path {
		p := bgp.Path{Prefix: webV4}
		change(&p)
		return p
	}
	plain := bgp.Path{Prefix: webV4}
	return []attributeChange{
		{"new communities replace the old ones", with(func(p *bgp.Path) { p.Communities = []uint32{1, 2} }),
			with(func(p *bgp.Path) { p.Communities = []uint32{3} })},
		{"the order of communities counts", with(func(p *bgp.Path) { p.Communities = []uint32{1, 2} }),
			with(func(p *bgp.Path) { p.Communities = []uint32{2, 1} })},
		{"new large communities replace the old ones", with(func(p *bgp.Path) { p.LargeCommunities = []bgp.LargeCommunity{{Global: 64512, Local1: 1, Local2: 2}} }),
			with(func(p *bgp.Path) { p.LargeCommunities = []bgp.LargeCommunity{{Global: 64512, Local1: 1, Local2: 3}} })},
		{"a new MED replaces the old one", with(func(p *bgp.Path) { p.MED = u32(10) }), with(func(p *bgp.Path) { p.MED = u32(20) })},
		{"a MED is removed", with(func(p *bgp.Path) { p.MED = u32(10) }), plain},
		{"a MED of 0 is not the same as none", plain, with(func(p *bgp.Path) { p.MED = u32(0) })},
		{"a new local preference replaces the old one", with(func(p *bgp.Path) { p.LocalPref = u32(100) }),
			with(func(p *bgp.Path) { p.LocalPref = u32(200) })},
		{"a new AS path prepend replaces the old one", with(func(p *bgp.Path) { p.ASPathPrepend = []uint32{64512} }),
			with(func(p *bgp.Path) { p.ASPathPrepend = []uint32{64512, 64512} })},
		{"a new weight replaces the old one", with(func(p *bgp.Path) { p.Weight = 1 }), with(func(p *bgp.Path) { p.Weight = 3 })},
		{"a weight is removed", with(func(p *bgp.Path) { p.Weight = 2 }), plain},
		{"every attribute is set at once", plain, with(func(p *bgp.Path) {
			p.Communities, p.LargeCommunities = []uint32{1}, []bgp.LargeCommunity{{Global: 1, Local1: 2, Local2: 3}}
			p.MED, p.LocalPref, p.ASPathPrepend, p.Weight = u32(1), u32(2), []uint32{64512}, 4
		})},
	}
}

func attributeCases() []suiteCase {
	var cases []suiteCase
	for _, c := range attributeChanges() {
		cases = append(cases, suiteCase{c.name, func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"))
			reconcilePaths(t, e, announced{"a": {c.before, path(dbV4)}})
			wantAnnounced(t, "after the change", reconcilePaths(t, e, announced{"a": {c.after, path(dbV4)}}),
				announced{"a": {c.after, path(dbV4)}})
			wantAnnouncedCounts(t, e, map[string]int{"a": 2})
		}})
	}
	return cases
}
