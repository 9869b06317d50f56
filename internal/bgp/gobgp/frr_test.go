package gobgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/poll"
	"github.com/bgplb/bgplb/internal/testpoll"
)

// These tests run the engine in the root namespace against a real FRR
// router in a namespace (see frrlab_test.go) and assert on what the router
// shows. Timers are short: hold 3 s, keepalive 1 s; GoBGP connects at most
// every 2 s.

const (
	// establishTimeout covers GoBGP's first connection attempt (after up
	// to 2 s) and one retry.
	establishTimeout = 10 * time.Second
	// routeTimeout is how long the router may take to show a change.
	routeTimeout = 5 * time.Second
)

var (
	webV4 = netip.MustParsePrefix("203.0.113.10/32")
	webV6 = netip.MustParsePrefix("2001:db8:100::10/128")
	dbV4  = netip.MustParsePrefix("198.51.100.20/32")
)

func u32(v uint32) *uint32 { return &v }

// labPeer is a peer towards the lab router r from the speaker's address
// number n (1 or 2), with the lab's short timers.
func labPeer(r *router, name string, n int) bgp.Peer {
	v4, v6 := r.speaker(n)
	return bgp.Peer{
		Name:          name,
		Address:       r.routerV4,
		LocalASN:      speakerASN,
		PeerASN:       routerASN,
		RouterID:      v4,
		SourceAddress: v4,
		HoldTime:      3 * time.Second,
		KeepaliveTime: time.Second,
		ConnectRetry:  time.Second,
		NextHopIPv4:   v4,
		NextHopIPv6:   v6,
	}
}

func reconcilePeers(t *testing.T, e *Engine, peers ...bgp.Peer) {
	t.Helper()
	if err := e.ReconcilePeers(context.Background(), bgp.ReconcilePeersRequest{Peers: peers}); err != nil {
		t.Fatalf("ReconcilePeers: %v", err)
	}
}

func reconcilePaths(t *testing.T, e *Engine, paths map[string][]bgp.Path) bgp.ReconcilePathsResponse {
	t.Helper()
	resp, err := e.ReconcilePaths(context.Background(), bgp.ReconcilePathsRequest{Paths: paths})
	if err != nil {
		t.Fatalf("ReconcilePaths: %v", err)
	}
	return resp
}

// waitRouterEstablished waits until the router has an established session
// with addr and returns its view of it.
func waitRouterEstablished(t *testing.T, r *router, addr netip.Addr) frrNeighbor {
	t.Helper()
	var n frrNeighbor
	testpoll.Until(t, establishTimeout, "the router's session with "+addr.String()+" is Established", poll.Succeeds(func() error {
		var err error
		n, err = r.neighbor(addr)
		if err != nil {
			return err
		}
		if n.BGPState != "Established" {
			return fmt.Errorf("router's session with %s is %s", addr, n.BGPState)
		}
		return nil
	}))
	return n
}

// pathFrom returns the router's path for pfx learnt from peer, if any.
func pathFrom(r *router, pfx netip.Prefix, peer netip.Addr) (frrPath, bool, error) {
	paths, err := r.paths(pfx)
	if err != nil {
		return frrPath{}, false, err
	}
	for _, p := range paths {
		if p.Peer.PeerID == peer.String() {
			return p, true, nil
		}
	}
	return frrPath{}, false, nil
}

// waitPath waits until the router has a path for pfx from peer and returns
// it.
func waitPath(t *testing.T, r *router, pfx netip.Prefix, peer netip.Addr) frrPath {
	t.Helper()
	var p frrPath
	testpoll.Until(t, routeTimeout, fmt.Sprintf("the router has a path for %s from %s", pfx, peer), poll.Succeeds(func() error {
		var ok bool
		var err error
		p, ok, err = pathFrom(r, pfx, peer)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("router has no path for %s from %s", pfx, peer)
		}
		return nil
	}))
	return p
}

// waitNoPath waits until the router has no path for pfx from peer.
func waitNoPath(t *testing.T, r *router, pfx netip.Prefix, peer netip.Addr) {
	t.Helper()
	testpoll.Until(t, routeTimeout, fmt.Sprintf("the router has no path for %s from %s", pfx, peer), poll.Succeeds(func() error {
		p, ok, err := pathFrom(r, pfx, peer)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("router still has a path for %s from %s: %+v", pfx, peer, p)
		}
		return nil
	}))
}

func nextHops(p frrPath) []string {
	var out []string
	for _, nh := range p.Nexthops {
		out = append(out, nh.IP)
	}
	return out
}

func TestEBGPPathsReachFRRWithTheirAttributes(t *testing.T) {
	t.Parallel()
	r := newRouter(t, routerConf{asn: routerASN, neighbors: []neighborConf{{speaker: 1, asn: speakerASN}}})
	e, _ := newEngine(t)
	reconcilePeers(t, e, labPeer(r, "a", 1))
	resp := reconcilePaths(t, e, map[string][]bgp.Path{"a": {
		{
			Prefix:           webV4,
			Communities:      []uint32{speakerASN<<16 | 100, 65000<<16 | 1},
			LargeCommunities: []bgp.LargeCommunity{{Global: speakerASN, Local1: 1, Local2: 2}},
			MED:              u32(7),
			ASPathPrepend:    []uint32{speakerASN, speakerASN},
		},
		{
			Prefix:      webV6,
			Communities: []uint32{speakerASN<<16 | 200},
		},
	}})
	if got := len(resp.Announced["a"]); got != 2 {
		t.Fatalf("announced %d paths to a, want 2: %+v", got, resp.Announced)
	}

	// The engine reports the session up, also on SessionChanges.
	nextChange(t, e, establishTimeout, func(s bgp.Session) bool { return s.State == bgp.StateEstablished })
	waitRouterEstablished(t, r, r.speakerV4)
	sessions, err := e.Sessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 1 || sessions[0].State != bgp.StateEstablished || sessions[0].Announced != 2 {
		t.Errorf("Sessions() = %+v, want a Established with 2 paths", sessions)
	}

	v4 := waitPath(t, r, webV4, r.speakerV4)
	if got := nextHops(v4); !slices.Equal(got, []string{r.speakerV4.String()}) {
		t.Errorf("IPv4 path next hops = %v, want [%s]", got, r.speakerV4)
	}
	if v4.Community == nil || !slices.Equal(v4.Community.List, []string{"64512:100", "65000:1"}) {
		t.Errorf("IPv4 path communities = %+v, want 64512:100 65000:1", v4.Community)
	}
	if v4.LargeCommunity == nil || !slices.Equal(v4.LargeCommunity.List, []string{"64512:1:2"}) {
		t.Errorf("IPv4 path large communities = %+v, want 64512:1:2", v4.LargeCommunity)
	}
	if v4.Med == nil || *v4.Med != 7 {
		t.Errorf("IPv4 path MED = %v, want 7", v4.Med)
	}
	// GoBGP puts the local ASN in front of the prepends towards eBGP.
	if want := "64512 64512 64512"; v4.ASPath.String != want {
		t.Errorf("IPv4 path AS path = %q, want %q", v4.ASPath.String, want)
	}
	if !v4.Valid {
		t.Error("IPv4 path is not valid at the router")
	}

	// The IPv6 path travels over the IPv4 session with the node's IPv6
	// address as next hop.
	v6 := waitPath(t, r, webV6, r.speakerV4)
	if got := nextHops(v6); !slices.Equal(got, []string{r.speakerV6.String()}) {
		t.Errorf("IPv6 path next hops = %v, want [%s]", got, r.speakerV6)
	}
	if !v6.Valid {
		t.Error("IPv6 path is not valid at the router")
	}
	if v6.Community == nil || !slices.Equal(v6.Community.List, []string{"64512:200"}) {
		t.Errorf("IPv6 path communities = %+v, want 64512:200", v6.Community)
	}
	if v6.Med != nil {
		t.Errorf("IPv6 path has MED %d, want none", *v6.Med)
	}
	if want := "64512"; v6.ASPath.String != want {
		t.Errorf("IPv6 path AS path = %q, want %q", v6.ASPath.String, want)
	}
}

func TestIBGPPathsCarryLocalPref(t *testing.T) {
	t.Parallel()
	r := newRouter(t, routerConf{asn: speakerASN, neighbors: []neighborConf{{speaker: 1, asn: speakerASN}}})
	e, _ := newEngine(t)
	p := labPeer(r, "a", 1)
	p.PeerASN = speakerASN
	reconcilePeers(t, e, p)
	reconcilePaths(t, e, map[string][]bgp.Path{"a": {
		{Prefix: webV4, LocalPref: u32(200)},
		{Prefix: webV6, LocalPref: u32(50), MED: u32(3)},
	}})
	waitRouterEstablished(t, r, r.speakerV4)
	v4 := waitPath(t, r, webV4, r.speakerV4)
	if v4.LocalPref == nil || *v4.LocalPref != 200 {
		t.Errorf("IPv4 path LOCAL_PREF = %v, want 200", v4.LocalPref)
	}
	// FRR shows an empty AS path as "Local".
	if v4.ASPath.String != "Local" {
		t.Errorf("IPv4 path AS path = %q, want an empty one (Local) towards iBGP", v4.ASPath.String)
	}
	if got := nextHops(v4); !slices.Equal(got, []string{r.speakerV4.String()}) {
		t.Errorf("IPv4 path next hops = %v, want [%s]", got, r.speakerV4)
	}
	v6 := waitPath(t, r, webV6, r.speakerV4)
	if v6.LocalPref == nil || *v6.LocalPref != 50 {
		t.Errorf("IPv6 path LOCAL_PREF = %v, want 50", v6.LocalPref)
	}
	if v6.Med == nil || *v6.Med != 3 {
		t.Errorf("IPv6 path MED = %v, want 3", v6.Med)
	}
	if got := nextHops(v6); !slices.Equal(got, []string{r.speakerV6.String()}) {
		t.Errorf("IPv6 path next hops = %v, want [%s]", got, r.speakerV6)
	}
}

func TestTheSameRequestTwiceSendsNoUpdate(t *testing.T) {
	t.Parallel()
	r := newRouter(t, routerConf{asn: routerASN, neighbors: []neighborConf{{speaker: 1, asn: speakerASN}}})
	e, _ := newEngine(t)
	reconcilePeers(t, e, labPeer(r, "a", 1))
	paths := []bgp.Path{
		{Prefix: webV4, Communities: []uint32{speakerASN<<16 | 100}, MED: u32(1)},
		{Prefix: webV6},
	}
	reconcilePaths(t, e, map[string][]bgp.Path{"a": paths})
	waitRouterEstablished(t, r, r.speakerV4)
	waitPath(t, r, webV4, r.speakerV4)
	waitPath(t, r, webV6, r.speakerV4)
	// updatesAfter adds pfx to the request and returns how many updates
	// the router has received once it has the path. TCP keeps order, so by
	// then the router has received everything sent before it.
	extra := netip.MustParsePrefix("198.51.100.0/32")
	updatesAfter := func(req []bgp.Path, pfx netip.Prefix) int {
		t.Helper()
		reconcilePaths(t, e, map[string][]bgp.Path{"a": append(slices.Clone(req), bgp.Path{Prefix: pfx})})
		waitPath(t, r, pfx, r.speakerV4)
		n, err := r.neighbor(r.speakerV4)
		if err != nil {
			t.Fatal(err)
		}
		return n.MessageStats.UpdatesRecv
	}
	before := updatesAfter(paths, extra)

	// The same paths again, as fresh copies with equal values, and the
	// extra path unchanged.
	again := []bgp.Path{
		{Prefix: webV6, Communities: []uint32{}},
		{Prefix: webV4, Communities: []uint32{speakerASN<<16 | 100}, MED: u32(1)},
		{Prefix: extra},
	}
	reconcilePaths(t, e, map[string][]bgp.Path{"a": again})
	if got := updatesAfter(again, dbV4) - before; got != 1 {
		t.Errorf("router received %d updates for an unchanged request and one new path, want 1", got)
	}
}

func TestWithdrawalAndResetTouchOnlyTheirPeer(t *testing.T) {
	t.Parallel()
	r := newRouter(t, routerConf{asn: routerASN, neighbors: []neighborConf{
		{speaker: 1, asn: speakerASN},
		{speaker: 2, asn: speakerASN},
	}})
	e, _ := newEngine(t)
	a, b := labPeer(r, "a", 1), labPeer(r, "b", 2)
	reconcilePeers(t, e, a, b)
	reconcilePaths(t, e, map[string][]bgp.Path{
		"a": {{Prefix: webV4}, {Prefix: dbV4}},
		"b": {{Prefix: webV4}},
	})
	waitRouterEstablished(t, r, r.speakerV4)
	bBefore := waitRouterEstablished(t, r, r.speaker2V4)
	waitPath(t, r, dbV4, r.speakerV4)
	waitPath(t, r, webV4, r.speakerV4)
	waitPath(t, r, webV4, r.speaker2V4)
	// Each peer has its own path set: b never got dbV4.
	if _, ok, err := pathFrom(r, dbV4, r.speaker2V4); err != nil || ok {
		t.Errorf("router has a path for %s from b (err %v); b was never asked to announce it", dbV4, err)
	}

	// Withdrawing a's path leaves b's path for the same prefix alone.
	reconcilePaths(t, e, map[string][]bgp.Path{
		"a": {{Prefix: dbV4}},
		"b": {{Prefix: webV4}},
	})
	waitNoPath(t, r, webV4, r.speakerV4)
	if _, ok, err := pathFrom(r, webV4, r.speaker2V4); err != nil || !ok {
		t.Errorf("b's path for %s is gone (err %v) after withdrawing a's", webV4, err)
	}

	sessionsBefore, err := e.Sessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A new hold time resets a's session only.
	a.HoldTime = 4 * time.Second
	reconcilePeers(t, e, a, b)
	testpoll.Until(t, establishTimeout, "a's session is Established again after a new hold time", poll.Succeeds(func() error {
		n, err := r.neighbor(r.speakerV4)
		if err != nil {
			return err
		}
		if n.ConnectionsEstablished < 2 || n.BGPState != "Established" {
			return fmt.Errorf("a's session at the router: %s after %d connections, want Established after 2", n.BGPState, n.ConnectionsEstablished)
		}
		return nil
	}))
	// The new session announces a's paths again.
	waitPath(t, r, dbV4, r.speakerV4)
	// The Cease that closed the old session was bgplb's own doing, not a
	// failure.
	if s := sessionOf(t, e, "a"); s.LastError != "" {
		t.Errorf("after the reset, session a has last error %q, want none", s.LastError)
	}
	bAfter, err := r.neighbor(r.speaker2V4)
	if err != nil {
		t.Fatal(err)
	}
	// FRR derives the established epoch from the uptime, so it may move by
	// a second; the connection counters may not move at all.
	if bAfter.BGPState != "Established" || bAfter.ConnectionsEstablished != 1 || bAfter.ConnectionsDropped != 0 ||
		abs(bAfter.BGPTimerUpEstablishedEpoch-bBefore.BGPTimerUpEstablishedEpoch) > 1 {
		t.Errorf("b's session at the router changed: before %+v, after %+v", bBefore, bAfter)
	}
	sessionsAfter, err := e.Sessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sessionsAfter) != 2 || sessionsAfter[1] != sessionsBefore[1] {
		t.Errorf("engine's session b changed: before %+v, after %+v", sessionsBefore, sessionsAfter)
	}

	// Removing a closes its session with a Cease and withdraws its paths.
	reconcilePeers(t, e, b)
	waitNoPath(t, r, dbV4, r.speakerV4)
	n, err := r.neighbor(r.speakerV4)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(n.LastNotificationReason, "Cease") {
		t.Errorf("router's last notification from a = %q, want a Cease", n.LastNotificationReason)
	}
}

func TestTCPMD5(t *testing.T) {
	t.Parallel()
	const (
		goodPassword  = "bgplb-md5-Good-1"
		otherPassword = "bgplb-md5-Other-2"
		wrongPassword = "bgplb-md5-Wrong-3"
	)
	r := newRouter(t, routerConf{asn: routerASN, neighbors: []neighborConf{
		{speaker: 1, asn: speakerASN, password: goodPassword},
		{speaker: 2, asn: speakerASN, password: otherPassword},
	}})
	e, logs := newEngine(t)
	good, bad := labPeer(r, "good", 1), labPeer(r, "bad", 2)
	good.Password = goodPassword
	bad.Password = wrongPassword
	reconcilePeers(t, e, good, bad)
	reconcilePaths(t, e, map[string][]bgp.Path{"good": nil, "bad": nil}) // sessions open with their first table
	// The wrong key never gets through. GoBGP first connects after up to
	// 2 s and gives up on a connection after 2 s, then tries again after
	// up to 2 s: 6.5 s cover two attempts.
	watchUntil := time.Now().Add(6500 * time.Millisecond)
	waitSession(t, e, "good", bgp.StateEstablished, establishTimeout)
	waitRouterEstablished(t, r, r.speakerV4)
	testpoll.Throughout(t, time.Until(watchUntil), "the session with the wrong password stays down at both ends", func() (bool, string) {
		sessions, err := e.Sessions(context.Background())
		if err != nil {
			return false, err.Error()
		}
		for _, s := range sessions {
			if s.Peer == "bad" && s.State == bgp.StateEstablished {
				return false, "the engine's session is Established"
			}
		}
		n, err := r.neighbor(r.speaker2V4)
		if err != nil {
			return false, err.Error()
		}
		return n.BGPState != "Established" && n.ConnectionsEstablished == 0, fmt.Sprintf("the router's session: %+v", n)
	})

	sessions, err := e.Sessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{goodPassword, wrongPassword} {
		for _, s := range sessions {
			if strings.Contains(fmt.Sprintf("%+v", s), pw) {
				t.Errorf("session %+v contains a password", s)
			}
		}
		if strings.Contains(logs.String(), pw) {
			t.Errorf("the engine's logs contain the password %q", pw)
		}
	}
	// Changing the password to the right one is a settings change that
	// resets the peer, after which it establishes.
	bad.Password = otherPassword
	reconcilePeers(t, e, good, bad)
	waitSession(t, e, "bad", bgp.StateEstablished, establishTimeout)
	if strings.Contains(logs.String(), otherPassword) {
		t.Error("the engine's logs contain the corrected password")
	}
}

func TestRoutesFromThePeerAreNotAccepted(t *testing.T) {
	t.Parallel()
	routerV4Net := netip.MustParsePrefix("198.18.2.0/24")
	routerV6Net := netip.MustParsePrefix("2001:db8:2::/64")
	r := newRouter(t, routerConf{
		asn:       routerASN,
		neighbors: []neighborConf{{speaker: 1, asn: speakerASN}},
		networks:  []netip.Prefix{routerV4Net, routerV6Net},
	})
	e, _ := newEngine(t)
	reconcilePeers(t, e, labPeer(r, "a", 1))
	reconcilePaths(t, e, map[string][]bgp.Path{"a": {{Prefix: webV4}, {Prefix: webV6}}})
	waitRouterEstablished(t, r, r.speakerV4)
	waitPath(t, r, webV4, r.speakerV4)

	e.mu.Lock()
	srv := e.peers["a"].srv
	e.mu.Unlock()
	list := func(table api.TableType, fam gobgp.Family) (map[string][]*apiutil.Path, error) {
		out := make(map[string][]*apiutil.Path)
		req := apiutil.ListPathRequest{TableType: table, Family: fam, EnableFiltered: true}
		if table == api.TableType_TABLE_TYPE_ADJ_IN {
			req.Name = r.routerV4.String()
		}
		err := srv.ListPath(req, func(prefix gobgp.NLRI, paths []*apiutil.Path) {
			out[prefix.String()] = paths
		})
		return out, err
	}
	for _, tc := range []struct {
		fam     gobgp.Family
		theirs  netip.Prefix
		ours    netip.Prefix
		ourNext netip.Addr
	}{
		{gobgp.RF_IPv4_UC, routerV4Net, webV4, r.speakerV4},
		{gobgp.RF_IPv6_UC, routerV6Net, webV6, r.speakerV6},
	} {
		// The router's route did arrive...
		testpoll.Until(t, routeTimeout, "the router's "+tc.theirs.String()+" arrives", poll.Succeeds(func() error {
			in, err := list(api.TableType_TABLE_TYPE_ADJ_IN, tc.fam)
			if err != nil {
				return err
			}
			if len(in[tc.theirs.String()]) == 0 {
				return fmt.Errorf("the router's %s has not arrived; Adj-RIB-In: %v", tc.theirs, in)
			}
			return nil
		}))
		// ...but the RIB holds nothing but the engine's own path.
		rib, err := list(api.TableType_TABLE_TYPE_GLOBAL, tc.fam)
		if err != nil {
			t.Fatal(err)
		}
		if len(rib) != 1 || len(rib[tc.ours.String()]) != 1 {
			t.Errorf("%s RIB = %v, want only %s", tc.fam, rib, tc.ours)
		}
		for _, paths := range rib {
			for _, p := range paths {
				if p.PeerAddress.IsValid() && !p.PeerAddress.IsUnspecified() {
					t.Errorf("%s RIB holds a path from %s: %+v", tc.fam, p.PeerAddress, p)
				}
			}
		}
	}
}

func TestStopClosesSessionsWithACease(t *testing.T) {
	t.Parallel()
	r := newRouter(t, routerConf{asn: routerASN, neighbors: []neighborConf{{speaker: 1, asn: speakerASN}}})
	e, _ := newEngine(t)
	p := labPeer(r, "a", 1)
	// Even with graceful restart, a plain Stop ends it.
	p.GracefulRestart = bgp.GracefulRestart{Enabled: true, RestartTime: 30 * time.Second}
	reconcilePeers(t, e, p)
	reconcilePaths(t, e, map[string][]bgp.Path{"a": {{Prefix: webV4}, {Prefix: webV6}}})
	waitRouterEstablished(t, r, r.speakerV4)
	waitPath(t, r, webV4, r.speakerV4)
	waitPath(t, r, webV6, r.speakerV4)

	if err := e.Stop(context.Background(), bgp.StopRequest{}); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	n, err := r.neighbor(r.speakerV4)
	if err != nil {
		t.Fatal(err)
	}
	// Stop returns once the NOTIFICATION is written; the router may take
	// a moment to process it.
	testpoll.Until(t, routeTimeout, "the router's session is down with a Cease", poll.Succeeds(func() error {
		n, err = r.neighbor(r.speakerV4)
		if err != nil {
			return err
		}
		if n.BGPState == "Established" || !strings.Contains(n.LastNotificationReason, "Cease") {
			return fmt.Errorf("router's session: %s, last notification %q; want down with a Cease", n.BGPState, n.LastNotificationReason)
		}
		return nil
	}))
	waitNoPath(t, r, webV4, r.speakerV4)
	waitNoPath(t, r, webV6, r.speakerV4)
	assertClosed(t, e.SessionChanges())
	if _, err := e.ReconcilePaths(context.Background(), bgp.ReconcilePathsRequest{}); err == nil {
		t.Error("ReconcilePaths after Stop succeeded")
	}
}

func TestStopKeepingRoutesLeavesThemStaleAtTheRouter(t *testing.T) {
	t.Parallel()
	r := newRouter(t, routerConf{asn: routerASN, neighbors: []neighborConf{{speaker: 1, asn: speakerASN}}})
	e, _ := newEngine(t)
	p := labPeer(r, "a", 1)
	p.GracefulRestart = bgp.GracefulRestart{Enabled: true, RestartTime: 30 * time.Second}
	paths := map[string][]bgp.Path{"a": {{Prefix: webV4}, {Prefix: webV6}}}
	reconcilePeers(t, e, p)
	reconcilePaths(t, e, paths)
	waitRouterEstablished(t, r, r.speakerV4)
	waitPath(t, r, webV4, r.speakerV4)
	waitPath(t, r, webV6, r.speakerV4)

	if err := e.Stop(context.Background(), bgp.StopRequest{KeepRoutes: true}); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	assertClosed(t, e.SessionChanges())
	// The router notices the closed connection and keeps the paths as
	// stale, without having received a NOTIFICATION.
	testpoll.Until(t, routeTimeout, "the router's session is down without a NOTIFICATION, its paths stale", poll.Succeeds(func() error {
		n, err := r.neighbor(r.speakerV4)
		if err != nil {
			return err
		}
		if n.BGPState == "Established" {
			return errors.New("router's session is still Established")
		}
		if n.MessageStats.NotificationsRcv != 0 {
			return fmt.Errorf("router received %d notifications (last %q), want none", n.MessageStats.NotificationsRcv, n.LastNotificationReason)
		}
		for _, pfx := range []netip.Prefix{webV4, webV6} {
			path, ok, err := pathFrom(r, pfx, r.speakerV4)
			if err != nil {
				return err
			}
			if !ok || !path.Stale {
				return fmt.Errorf("router's path for %s: present %v, stale %v; want a stale path", pfx, ok, path.Stale)
			}
		}
		return nil
	}))

	// A new engine (the restarted speaker) announces the same paths; the
	// router takes them as fresh again.
	e2, _ := newEngine(t)
	reconcilePeers(t, e2, p)
	reconcilePaths(t, e2, paths)
	testpoll.Until(t, establishTimeout+routeTimeout, "the new engine's session is Established with its paths", poll.Succeeds(func() error {
		n, err := r.neighbor(r.speakerV4)
		if err != nil {
			return err
		}
		if n.BGPState != "Established" {
			return fmt.Errorf("router's session is %s", n.BGPState)
		}
		for _, pfx := range []netip.Prefix{webV4, webV6} {
			path, ok, err := pathFrom(r, pfx, r.speakerV4)
			if err != nil {
				return err
			}
			if !ok || path.Stale {
				return fmt.Errorf("router's path for %s: present %v, stale %v; want a fresh path", pfx, ok, path.Stale)
			}
		}
		return nil
	}))
}

// A session that carries no path has nothing for graceful restart to
// keep: even when asked to keep routes, Stop closes it with a Cease, while
// a session with paths to another router is left stale as before.
func TestStopKeepingRoutesCeasesSessionsWithoutPaths(t *testing.T) {
	t.Parallel()
	r := newRouter(t, routerConf{asn: routerASN, neighbors: []neighborConf{
		{speaker: 1, asn: speakerASN},
		{speaker: 2, asn: speakerASN},
	}})
	e, _ := newEngine(t)
	quiet, busy := labPeer(r, "quiet", 1), labPeer(r, "busy", 2)
	quiet.GracefulRestart = bgp.GracefulRestart{Enabled: true, RestartTime: 30 * time.Second}
	busy.GracefulRestart = quiet.GracefulRestart
	reconcilePeers(t, e, quiet, busy)
	// The quiet peer's RIB is complete and empty, which opens its session.
	reconcilePaths(t, e, map[string][]bgp.Path{"busy": {{Prefix: webV4}}, "quiet": {}})
	waitRouterEstablished(t, r, r.speakerV4)
	waitRouterEstablished(t, r, r.speaker2V4)
	waitPath(t, r, webV4, r.speaker2V4)

	if err := e.Stop(context.Background(), bgp.StopRequest{KeepRoutes: true}); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	testpoll.Until(t, routeTimeout, "the quiet session is down with a Cease", poll.Succeeds(func() error {
		n, err := r.neighbor(r.speakerV4)
		if err != nil {
			return err
		}
		if n.BGPState == "Established" || !strings.Contains(n.LastNotificationReason, "Cease") {
			return fmt.Errorf("the quiet session: %s, last notification %q; want down with a Cease", n.BGPState, n.LastNotificationReason)
		}
		return nil
	}))
	testpoll.Until(t, routeTimeout, "the busy session is down without a NOTIFICATION, its path stale", poll.Succeeds(func() error {
		n, err := r.neighbor(r.speaker2V4)
		if err != nil {
			return err
		}
		if n.BGPState == "Established" || n.MessageStats.NotificationsRcv != 0 {
			return fmt.Errorf("the busy session: %s after %d notifications; want down without one", n.BGPState, n.MessageStats.NotificationsRcv)
		}
		path, ok, err := pathFrom(r, webV4, r.speaker2V4)
		if err != nil || !ok || !path.Stale {
			return fmt.Errorf("the busy session's path: present %v, stale %v (%v); want a stale path", ok, path.Stale, err)
		}
		return nil
	}))
}

// assertClosed checks that ch is closed, draining what is left in it.
func assertClosed(t *testing.T, ch <-chan bgp.Session) {
	t.Helper()
	deadline := time.After(time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("SessionChanges is not closed")
		}
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func TestASessionTheRouterClosesIsReportedWithItsReason(t *testing.T) {
	t.Parallel()
	r := newRouter(t, routerConf{asn: routerASN, neighbors: []neighborConf{{speaker: 1, asn: speakerASN}}})
	e, _ := newEngine(t)
	reconcilePeers(t, e, labPeer(r, "a", 1))
	reconcilePaths(t, e, map[string][]bgp.Path{"a": nil}) // the session opens with its first table
	// Reading the changes up to Established leaves none queued from
	// before.
	nextChange(t, e, establishTimeout, func(s bgp.Session) bool { return s.State == bgp.StateEstablished })

	if _, err := r.vtysh(fmt.Sprintf("configure terminal\nrouter bgp %d\nneighbor %s shutdown", routerASN, r.speakerV4)); err != nil {
		t.Fatal(err)
	}
	s := nextChange(t, e, routeTimeout, func(s bgp.Session) bool { return s.State != bgp.StateEstablished })
	if want := "received NOTIFICATION: cease, administrative shutdown (code 6, subcode 2)"; !strings.HasPrefix(s.LastError, want) {
		t.Errorf("session went %s with last error %q, want %q", s.State, s.LastError, want)
	}
}

// A peer ASN that is not the router's AS is the commonest mistake. GoBGP
// answers the router's OPEN with a NOTIFICATION and the session stays in
// Active without a state change; the NOTIFICATION must still reach the
// session's last error, and stay there while the session stays down.
func TestAWrongPeerASNIsReportedAsBadPeerAS(t *testing.T) {
	t.Parallel()
	r := newRouter(t, routerConf{asn: routerASN, neighbors: []neighborConf{{speaker: 1, asn: speakerASN}}})
	e, logs := newEngine(t)
	p := labPeer(r, "a", 1)
	p.PeerASN = routerASN + 1
	reconcilePeers(t, e, p)
	reconcilePaths(t, e, map[string][]bgp.Path{"a": nil})

	const want = "sent NOTIFICATION: OPEN message error, bad peer AS (code 2, subcode 2)"
	lastError := func() (bool, string) {
		s := sessionOf(t, e, "a")
		return s.LastError == want && s.State != bgp.StateEstablished, fmt.Sprintf("%s with last error %q", s.State, s.LastError)
	}
	testpoll.Until(t, establishTimeout, "session a to report the bad peer AS", lastError)
	// The node status is written on session changes, so the error must be
	// delivered as one.
	nextChange(t, e, routeTimeout, func(s bgp.Session) bool { return s.LastError == want })

	// GoBGP tries again every few seconds; the error stays.
	testpoll.Until(t, establishTimeout, "GoBGP to send a second NOTIFICATION", func() (bool, string) {
		n := strings.Count(logs.String(), `msg="sent notification"`)
		return n >= 2, fmt.Sprintf("%d NOTIFICATIONs logged", n)
	})
	if ok, seen := lastError(); !ok {
		t.Errorf("after a second attempt session a is %s, want the bad peer AS still", seen)
	}
}

// A router that expects another AS from this node refuses its OPEN with a
// NOTIFICATION after sending its own OPEN, so GoBGP receives it in
// OpenConfirm, where it does not report it; the last error must still say
// that the router sent one, so that the user looks at the router.
func TestARouterThatRefusesTheSessionIsReportedAsANotification(t *testing.T) {
	t.Parallel()
	r := newRouter(t, routerConf{asn: routerASN, neighbors: []neighborConf{{speaker: 1, asn: speakerASN + 1}}})
	e, _ := newEngine(t)
	reconcilePeers(t, e, labPeer(r, "a", 1))
	reconcilePaths(t, e, map[string][]bgp.Path{"a": nil})

	testpoll.Until(t, establishTimeout, "session a to report the router's NOTIFICATION", func() (bool, string) {
		s := sessionOf(t, e, "a")
		return s.LastError == unloggedNotification && s.State != bgp.StateEstablished, fmt.Sprintf("%s with last error %q", s.State, s.LastError)
	})
}

// sessionOf returns the engine's session of peer, failing the test if
// there is none.
func sessionOf(t *testing.T, e *Engine, peer string) bgp.Session {
	t.Helper()
	sessions, err := e.Sessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if s.Peer == peer {
			return s
		}
	}
	t.Fatalf("no session for peer %q in %+v", peer, sessions)
	return bgp.Session{}
}

// nextChange reads session changes of peer a until one satisfies ok and
// returns it.
func nextChange(t *testing.T, e *Engine, timeout time.Duration, ok func(bgp.Session) bool) bgp.Session {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case s, open := <-e.SessionChanges():
			if !open {
				t.Fatal("SessionChanges closed")
			}
			if s.Peer == "a" && ok(s) {
				return s
			}
		case <-deadline:
			t.Fatalf("no matching session change within %v", timeout)
		}
	}
}
