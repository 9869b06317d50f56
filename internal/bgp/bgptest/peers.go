package bgptest

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/bgp"
)

// invalidPeer is a peer that breaks one rule of bgp.Peer.Validate, and
// what the error says about it.
type invalidPeer struct {
	name  string
	peer  bgp.Peer
	fault string
}

func invalidPeers() []invalidPeer {
	bad := func(change func(*bgp.Peer)) bgp.Peer { return changed("bad", change) }
	bfd := func(rx, tx time.Duration, mult uint8) func(*bgp.Peer) {
		return func(p *bgp.Peer) {
			p.BFD = &bgp.BFD{ReceiveInterval: rx, TransmitInterval: tx, DetectMultiplier: mult}
		}
	}
	v6 := netip.MustParseAddr("2001:db8:1::1")
	return []invalidPeer{
		{"a peer needs a name", bad(func(p *bgp.Peer) { p.Name = "" }), "no name"},
		{"a peer needs an address", bad(func(p *bgp.Peer) { p.Address = netip.Addr{} }), "not a usable address"},
		{"the unspecified address is no address", bad(func(p *bgp.Peer) { p.Address = netip.IPv4Unspecified() }), "not a usable address"},
		{"a peer needs a local ASN", bad(func(p *bgp.Peer) { p.LocalASN = 0 }), "must not be 0"},
		{"a peer needs a peer ASN", bad(func(p *bgp.Peer) { p.PeerASN = 0 }), "must not be 0"},
		{"a peer needs a router ID", bad(func(p *bgp.Peer) { p.RouterID = netip.Addr{} }), "router ID"},
		{"the router ID is IPv4", bad(func(p *bgp.Peer) { p.RouterID = v6 }), "router ID"},
		{"the router ID is not 0.0.0.0", bad(func(p *bgp.Peer) { p.RouterID = netip.IPv4Unspecified() }), "router ID"},
		{"the source address is of the peer address's family", bad(func(p *bgp.Peer) { p.SourceAddress = v6 }), "different families"},
		{"a hold time under 3s is refused", bad(func(p *bgp.Peer) { p.HoldTime = 2 * time.Second }), "hold time 2s"},
		{"a hold time over 65535s is refused", bad(func(p *bgp.Peer) { p.HoldTime = 65536 * time.Second }), "longer than BGP allows"},
		{"a keepalive over the hold time is refused", bad(func(p *bgp.Peer) { p.KeepaliveTime = 10 * time.Second }), "keepalive time 10s"},
		{"a negative keepalive is refused", bad(func(p *bgp.Peer) { p.KeepaliveTime = -time.Second }), "keepalive time -1s"},
		{"a negative connect retry is refused", bad(func(p *bgp.Peer) { p.ConnectRetry = -time.Second }), "connect retry"},
		{"a password longer than Linux allows is refused", bad(func(p *bgp.Peer) { p.Password = strings.Repeat("secret", 14) }), "longer than 80 bytes"},
		{
			"a restart time over 4095s is refused",
			bad(func(p *bgp.Peer) {
				p.GracefulRestart = bgp.GracefulRestart{Enabled: true, RestartTime: 4096 * time.Second}
			}),
			"graceful restart time",
		},
		{"a negative restart time is refused", bad(func(p *bgp.Peer) { p.GracefulRestart.RestartTime = -time.Second }), "graceful restart time"},
		{"the IPv4 next hop is IPv4", bad(func(p *bgp.Peer) { p.NextHopIPv4 = nextHopV6 }), "IPv4 next hop"},
		{"the IPv6 next hop is IPv6", bad(func(p *bgp.Peer) { p.NextHopIPv6 = nextHopV4 }), "IPv6 next hop"},
		{
			"the IPv6 next hop is not an IPv4-mapped address",
			bad(func(p *bgp.Peer) { p.NextHopIPv6 = netip.AddrFrom16(nextHopV4.As16()) }),
			"IPv6 next hop",
		},
		{
			"a peer needs a next hop of some family",
			bad(func(p *bgp.Peer) { p.NextHopIPv4, p.NextHopIPv6 = netip.Addr{}, netip.Addr{} }),
			"neither an IPv4 nor an IPv6 next hop",
		},
		{"BFD intervals are at least 1ms", bad(bfd(time.Microsecond, 100*time.Millisecond, 3)), "BFD intervals"},
		{"BFD intervals are at most 1m", bad(bfd(100*time.Millisecond, 2*time.Minute, 3)), "BFD intervals"},
		{"the BFD detect multiplier is at least 2", bad(bfd(100*time.Millisecond, 100*time.Millisecond, 1)), "detect multiplier"},
	}
}

func invalidPeerCases() []suiteCase {
	var cases []suiteCase
	for _, tt := range invalidPeers() {
		cases = append(cases, suiteCase{tt.name + "; the request changes nothing", func(t *testing.T, e bgp.Engine) {
			refusesRequest(t, e, []bgp.Peer{peer("kept"), tt.peer}, tt.fault)
		}})
	}
	return append(cases,
		suiteCase{"a name listed twice is refused; the request changes nothing", func(t *testing.T, e bgp.Engine) {
			refusesRequest(t, e, []bgp.Peer{peer("bad"), peer("bad")}, "listed more than once")
		}},
		suiteCase{"peers at the edges of the rules are accepted", acceptsEdgePeers},
	)
}

// refusesRequest configures peer "kept", then fails the test unless
// ReconcilePeers with request fails naming fault, the bad peer, and not
// its password, and leaves "kept" as it was and nothing added.
func refusesRequest(t *testing.T, e bgp.Engine, request []bgp.Peer, fault string) {
	reconcilePeers(t, e, peer("kept"))
	before := sessions(t, e)["kept"]
	err := e.ReconcilePeers(context.Background(), bgp.ReconcilePeersRequest{Peers: request})
	bad := request[len(request)-1]
	if bad.Name == "" {
		wantError(t, "ReconcilePeers", err, fault)
	} else {
		wantError(t, "ReconcilePeers", err, fault, `peer "`+bad.Name+`"`)
	}
	if bad.Password != "" && err != nil && strings.Contains(err.Error(), bad.Password) {
		t.Errorf("the error shows the password: %v", err)
	}
	if got := peerNames(t, e); !slices.Equal(got, []string{"kept"}) {
		t.Errorf("peers after the refused request = %v, want only kept", got)
	}
	if after := sessions(t, e)["kept"]; !after.Since.Equal(before.Since) {
		t.Errorf("the refused request reset kept's session (since %v, before %v)", after.Since, before.Since)
	}
}

func acceptsEdgePeers(t *testing.T, e bgp.Engine) {
	edges := []bgp.Peer{
		changed("default-hold-time", func(p *bgp.Peer) { p.HoldTime, p.KeepaliveTime = 0, 90*time.Second }),
		changed("shortest-hold-time", func(p *bgp.Peer) { p.HoldTime, p.KeepaliveTime = 3*time.Second, 3*time.Second }),
		changed("longest-hold-time", func(p *bgp.Peer) { p.HoldTime = 65535 * time.Second }),
		changed("ipv6-only", func(p *bgp.Peer) { p.NextHopIPv4 = netip.Addr{} }),
		changed("ipv4-only", func(p *bgp.Peer) { p.NextHopIPv6 = netip.Addr{} }),
		changed("mapped-ipv4-next-hop", func(p *bgp.Peer) { p.NextHopIPv4 = netip.AddrFrom16(nextHopV4.As16()) }),
		changed("longest-password", func(p *bgp.Peer) { p.Password = strings.Repeat("k", 80) }),
		changed("longest-restart-time", func(p *bgp.Peer) {
			p.GracefulRestart = bgp.GracefulRestart{Enabled: true, RestartTime: 4095 * time.Second}
		}),
		// Only one peer asks for BFD: an engine may run BFD for only one
		// peer per interface, and reports the others.
		changed("fastest-bfd", func(p *bgp.Peer) {
			p.BFD = &bgp.BFD{ReceiveInterval: time.Millisecond, TransmitInterval: time.Millisecond, DetectMultiplier: 2}
		}),
	}
	reconcilePeers(t, e, edges...)
	var want []string
	for _, p := range edges {
		want = append(want, p.Name)
	}
	slices.Sort(want)
	if got := peerNames(t, e); !slices.Equal(got, want) {
		t.Errorf("peers = %v, want %v", got, want)
	}
}

func peerChangeCases() []suiteCase {
	return []suiteCase{
		{"a new peer's session is Idle, in Sessions and on SessionChanges", newPeerIsIdle},
		{"an unchanged peer is left alone", func(t *testing.T, e bgp.Engine) {
			wantReset(t, e, peer("a"), false)
		}},
		{"a peer whose settings changed is reset", func(t *testing.T, e bgp.Engine) {
			wantReset(t, e, changed("a", func(p *bgp.Peer) { p.HoldTime = 30 * time.Second }), true)
		}},
		{"a change of BFD settings alone does not reset the session", func(t *testing.T, e bgp.Engine) {
			wantReset(t, e, changed("a", func(p *bgp.Peer) {
				p.BFD = &bgp.BFD{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3}
			}), false)
		}},
		{"a removed peer has no session", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"), peer("b"))
			reconcilePeers(t, e, peer("b"))
			if got := peerNames(t, e); !slices.Equal(got, []string{"b"}) {
				t.Errorf("peers = %v, want only b", got)
			}
		}},
		{"BFD is Down for a peer with BFD whose session is not up, and empty without BFD", bfdStateBeforeTheSession},
		{"a peer whose settings changed keeps its paths", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"), peer("b"))
			want := announced{"a": {path(webV4), path(webV6)}, "b": {path(dbV4)}}
			reconcilePaths(t, e, want)
			reconcilePeers(t, e, changed("a", func(p *bgp.Peer) { p.HoldTime = 30 * time.Second }), peer("b"))
			wantAnnouncedCounts(t, e, map[string]int{"a": 2, "b": 1})
			wantAnnounced(t, "the same paths again", reconcilePaths(t, e, want), want)
		}},
	}
}

// newPeerIsIdle checks the first report of a new peer's session.
func newPeerIsIdle(t *testing.T, e bgp.Engine) {
	reconcilePeers(t, e, peer("a"))
	s, ok := sessions(t, e)["a"]
	if !ok || s.State != bgp.StateIdle || s.Announced != 0 || s.LastError != "" || s.GracefulRestart || s.Since.IsZero() {
		t.Errorf("Sessions reports %+v (present %v), want a in %s since some time, with nothing else set", s, ok, bgp.StateIdle)
	}
	if c := nextChange(t, e); c.Peer != "a" || c.State != bgp.StateIdle {
		t.Errorf("first change = %+v, want a in %s", c, bgp.StateIdle)
	}
}

// wantReset configures peer a, then asks for next instead and fails the
// test unless a's session was reset (a new session since the request) if
// and only if reset. The peer is never given paths, so that a real
// engine's session does not change by itself.
func wantReset(t *testing.T, e bgp.Engine, next bgp.Peer, reset bool) {
	reconcilePeers(t, e, peer("a"))
	before := sessions(t, e)["a"]
	mark := time.Now()
	reconcilePeers(t, e, next)
	after, ok := sessions(t, e)["a"]
	switch {
	case !ok:
		t.Fatal("peer a has no session any more")
	case reset && (after.Since.Before(mark) || after.State != bgp.StateIdle):
		t.Errorf("session = %+v, want a new Idle session since the request at %v", after, mark)
	case !reset && !after.Since.Equal(before.Since):
		t.Errorf("session since %v, want the session since %v left alone", after.Since, before.Since)
	}
}

func bfdStateBeforeTheSession(t *testing.T, e bgp.Engine) {
	withBFD := changed("bfd", func(p *bgp.Peer) {
		p.BFD = &bgp.BFD{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3}
	})
	reconcilePeers(t, e, withBFD, peer("plain"))
	got := sessions(t, e)
	if s := got["bfd"]; s.BFD != bgp.BFDDown {
		t.Errorf("BFD of the peer with BFD = %q, want %q", s.BFD, bgp.BFDDown)
	}
	if s := got["plain"]; s.BFD != "" {
		t.Errorf("BFD of the peer without BFD = %q, want none", s.BFD)
	}
}

// wantAnnouncedCounts fails the test unless Sessions reports want[peer]
// paths announced to each peer of want.
func wantAnnouncedCounts(t *testing.T, e bgp.Engine, want map[string]int) {
	t.Helper()
	got := sessions(t, e)
	for name, n := range want {
		if got[name].Announced != n {
			t.Errorf("session of %s announces %d paths, want %d", name, got[name].Announced, n)
		}
	}
}
