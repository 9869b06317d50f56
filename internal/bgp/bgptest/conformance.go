// Package bgptest holds the conformance suite of bgp.Engine: the rules
// every engine follows, as tests that take the engine to test. The
// in-memory fake and the GoBGP engine both run it, so that a test of the
// speaker against the fake tells how it fares against the real engine. A
// case that one engine passes and the other fails is a bug in one of them.
//
// The suite needs no router: its peers point at port 1 of the loopback
// address, where nothing listens, so the sessions of a real engine never
// come up and no packet leaves the machine. What it checks is what the
// Engine interface shows: errors, ReconcilePathsResponse, Sessions and
// SessionChanges. What a router receives is for each engine's own tests.
package bgptest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/bgp"
)

// NewEngine returns a new engine without peers for one test. The suite
// stops it when the test ends; it may also be stopped by the constructor's
// own cleanup, since a second Stop does nothing.
type NewEngine func(t *testing.T) bgp.Engine

// suiteCase is one rule of the suite, run on an engine of its own.
type suiteCase struct {
	name string
	run  func(t *testing.T, e bgp.Engine)
}

// Run runs every case of the suite as a subtest of t, each on a new engine
// from newEngine. The cases share nothing and run in parallel.
func Run(t *testing.T, newEngine NewEngine) {
	groups := []struct {
		name  string
		cases []suiteCase
	}{
		{"invalid peers", invalidPeerCases()},
		{"peer changes", peerChangeCases()},
		{"paths", pathCases()},
		{"family mismatches", familyCases()},
		{"withdrawals", withdrawalCases()},
		{"attribute changes", attributeCases()},
		{"cancelled context", cancelledContextCases()},
		{"concurrent calls", concurrencyCases()},
		{"stop", stopCases()},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					e := newEngine(t)
					t.Cleanup(func() { stopEngine(t, e) })
					c.run(t, e)
				})
			}
		})
	}
}

// stopTimeout bounds Stop of an engine whose sessions never came up.
const stopTimeout = 10 * time.Second

func stopEngine(t *testing.T, e bgp.Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := e.Stop(ctx, bgp.StopRequest{}); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

// Addresses of the suite's peers and paths. The peer address is where
// nothing listens (see the package comment); the rest only has to be
// valid.
var (
	nowhere   = netip.MustParseAddr("127.0.0.1")
	routerID  = netip.MustParseAddr("198.18.0.2")
	nextHopV4 = netip.MustParseAddr("198.18.0.2")
	nextHopV6 = netip.MustParseAddr("2001:db8:1::2")
	webV4     = netip.MustParsePrefix("203.0.113.10/32")
	dbV4      = netip.MustParsePrefix("203.0.113.20/32")
	webV6     = netip.MustParsePrefix("2001:db8:100::10/128")
)

// peer returns a valid peer named name, with next hops of both families.
func peer(name string) bgp.Peer {
	return bgp.Peer{
		Name:        name,
		Address:     nowhere,
		Port:        1,
		LocalASN:    64512,
		PeerASN:     64513,
		RouterID:    routerID,
		HoldTime:    9 * time.Second,
		NextHopIPv4: nextHopV4,
		NextHopIPv6: nextHopV6,
	}
}

// changed returns peer(name) changed by change.
func changed(name string, change func(*bgp.Peer)) bgp.Peer {
	p := peer(name)
	change(&p)
	return p
}

func path(prefix netip.Prefix, communities ...uint32) bgp.Path {
	return bgp.Path{Prefix: prefix, Communities: communities}
}

func u32(v uint32) *uint32 { return &v }

// announced is what a ReconcilePathsResponse lists, by peer name.
type announced = map[string][]bgp.Path

func reconcilePeers(t *testing.T, e bgp.Engine, peers ...bgp.Peer) {
	t.Helper()
	if err := e.ReconcilePeers(context.Background(), bgp.ReconcilePeersRequest{Peers: peers}); err != nil {
		t.Fatalf("ReconcilePeers: %v", err)
	}
}

func reconcilePaths(t *testing.T, e bgp.Engine, paths announced) announced {
	t.Helper()
	resp, err := e.ReconcilePaths(context.Background(), bgp.ReconcilePathsRequest{Paths: paths})
	if err != nil {
		t.Fatalf("ReconcilePaths: %v", err)
	}
	return resp.Announced
}

// wantError fails the test unless err is an error whose text contains
// every one of parts.
func wantError(t *testing.T, call string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded, want an error containing %q", call, parts)
	}
	for _, part := range parts {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("%s error = %q, want one containing %q", call, err, part)
		}
	}
}

// wantAnnounced fails the test unless got lists exactly the paths of
// want, peer by peer, in prefix order.
func wantAnnounced(t *testing.T, what string, got, want announced) {
	t.Helper()
	if !equalAnnounced(got, want) {
		t.Errorf("%s: announced = %s, want %s", what, format(got), format(want))
	}
}

func equalAnnounced(a, b announced) bool {
	if len(a) != len(b) {
		return false
	}
	for name, pa := range a {
		pb, ok := b[name]
		if !ok || !slices.EqualFunc(pa, pb, bgp.Path.Equal) {
			return false
		}
	}
	return true
}

func format(a announced) string {
	names := make([]string, 0, len(a))
	for name := range a {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("{")
	for i, name := range names {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s:%+v", name, a[name])
	}
	b.WriteString("}")
	return b.String()
}

// sessions returns the engine's sessions by peer name, failing the test
// unless they come sorted by peer name.
func sessions(t *testing.T, e bgp.Engine) map[string]bgp.Session {
	t.Helper()
	list, err := e.Sessions(context.Background())
	if err != nil {
		t.Fatalf("Sessions: %v", err)
	}
	if !slices.IsSortedFunc(list, func(a, b bgp.Session) int { return strings.Compare(a.Peer, b.Peer) }) {
		t.Errorf("Sessions are not sorted by peer name: %+v", list)
	}
	out := make(map[string]bgp.Session, len(list))
	for _, s := range list {
		out[s.Peer] = s
	}
	return out
}

// peerNames returns the names of the peers with a session, sorted.
func peerNames(t *testing.T, e bgp.Engine) []string {
	t.Helper()
	var names []string
	for name := range sessions(t, e) {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// changeTimeout bounds the wait for a session change the engine has
// already made when the wait starts.
const changeTimeout = 5 * time.Second

// nextChange returns the next session change, or fails the test if none
// comes within changeTimeout or the channel is closed.
func nextChange(t *testing.T, e bgp.Engine) bgp.Session {
	t.Helper()
	timer := time.NewTimer(changeTimeout)
	defer timer.Stop()
	select {
	case s, ok := <-e.SessionChanges():
		if !ok {
			t.Fatal("SessionChanges is closed")
		}
		return s
	case <-timer.C:
		t.Fatalf("no session change within %v", changeTimeout)
		return bgp.Session{}
	}
}

// wantClosed fails the test unless SessionChanges is closed within
// changeTimeout; changes still pending before the close are skipped.
func wantClosed(t *testing.T, e bgp.Engine) {
	t.Helper()
	timer := time.NewTimer(changeTimeout)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-e.SessionChanges():
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatalf("SessionChanges still open %v after Stop", changeTimeout)
		}
	}
}
