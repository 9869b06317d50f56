package gobgp

import (
	"context"
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

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
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
