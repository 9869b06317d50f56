package bgp

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func u32(v uint32) *uint32 { return &v }

func path(prefix string, communities ...uint32) Path {
	return Path{Prefix: netip.MustParsePrefix(prefix), Communities: communities}
}

func peer(name string) Peer {
	return Peer{
		Name:        name,
		Address:     netip.MustParseAddr("198.18.0.1"),
		LocalASN:    64512,
		PeerASN:     64513,
		RouterID:    netip.MustParseAddr("198.18.0.2"),
		HoldTime:    9 * time.Second,
		NextHopIPv4: netip.MustParseAddr("198.18.0.2"),
		NextHopIPv6: netip.MustParseAddr("2001:db8:1::2"),
	}
}

// newFake returns a Fake with the given peers configured; it is stopped
// when the test ends.
func newFake(t *testing.T, peers ...Peer) *Fake {
	t.Helper()
	f := NewFake()
	t.Cleanup(func() { _ = f.Stop(context.Background(), StopRequest{}) })
	if err := f.ReconcilePeers(context.Background(), ReconcilePeersRequest{Peers: peers}); err != nil {
		t.Fatalf("ReconcilePeers: %v", err)
	}
	return f
}

// TestFakeCountsUpdates checks the count of what a real engine would
// send; what is announced and which errors are reported is the
// conformance suite's (conformance_test.go).
func TestFakeCountsUpdates(t *testing.T) {
	t.Parallel()
	a, b := peer("a"), peer("b")
	v4Only := peer("v4only")
	v4Only.NextHopIPv6 = netip.Addr{}
	web := path("203.0.113.10/32", 100)
	webV6 := path("2001:db8:100::10/128")
	db := path("203.0.113.20/32")
	tests := []struct {
		name        string
		peers       []Peer
		before      []map[string][]Path // applied in order first
		req         map[string][]Path
		wantUpdates int // sent by req alone
	}{
		{
			name:        "the first request advertises every path to every peer it names",
			peers:       []Peer{a, b},
			req:         map[string][]Path{"a": {web, webV6}, "b": {db}},
			wantUpdates: 3,
		},
		{
			name:        "the same request twice sends nothing the second time",
			peers:       []Peer{a},
			before:      []map[string][]Path{{"a": {web, db}}},
			req:         map[string][]Path{"a": {db, web}},
			wantUpdates: 0,
		},
		{
			name:        "nil and empty attribute lists are the same path",
			peers:       []Peer{a},
			before:      []map[string][]Path{{"a": {{Prefix: web.Prefix, Communities: []uint32{}}}}},
			req:         map[string][]Path{"a": {{Prefix: web.Prefix}}},
			wantUpdates: 0,
		},
		{
			name:        "a path whose attributes changed is advertised again",
			peers:       []Peer{a},
			before:      []map[string][]Path{{"a": {web, db}}},
			req:         map[string][]Path{"a": {{Prefix: web.Prefix, Communities: web.Communities, MED: u32(10)}, db}},
			wantUpdates: 1,
		},
		{
			name:        "a path no longer requested is withdrawn",
			peers:       []Peer{a},
			before:      []map[string][]Path{{"a": {web, db}}},
			req:         map[string][]Path{"a": {db}},
			wantUpdates: 1,
		},
		{
			name:        "a peer absent from the request has all its paths withdrawn",
			peers:       []Peer{a, b},
			before:      []map[string][]Path{{"a": {web, db}, "b": {db}}},
			req:         map[string][]Path{"b": {db}},
			wantUpdates: 2,
		},
		{
			name:        "paths for a peer that is not configured send nothing",
			peers:       []Peer{a},
			req:         map[string][]Path{"a": {web}, "ghost": {db}},
			wantUpdates: 1,
		},
		{
			name:        "a refused path sends nothing",
			peers:       []Peer{v4Only},
			req:         map[string][]Path{"v4only": {web, webV6, path("203.0.113.10/24")}},
			wantUpdates: 1,
		},
		{
			name:        "a prefix listed twice is sent once",
			peers:       []Peer{a},
			req:         map[string][]Path{"a": {web, path("203.0.113.10/32", 200)}},
			wantUpdates: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFake(t, tt.peers...)
			for _, paths := range tt.before {
				_, _ = f.ReconcilePaths(ctx, ReconcilePathsRequest{Paths: paths})
			}
			start := f.Updates()
			_, _ = f.ReconcilePaths(ctx, ReconcilePathsRequest{Paths: tt.req})
			if got := f.Updates() - start; got != tt.wantUpdates {
				t.Errorf("updates sent = %d, want %d", got, tt.wantUpdates)
			}
		})
	}
}

// TestFakeCountsResets checks the count of sessions reset; which peers
// and paths are left is the conformance suite's.
func TestFakeCountsResets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	slower := peer("a")
	slower.HoldTime = 90 * time.Second
	noV6 := peer("a")
	noV6.NextHopIPv6 = netip.Addr{}
	withBFD := peer("a")
	withBFD.BFD = &BFD{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3}
	tests := []struct {
		name       string
		peers      []Peer
		wantResets int
	}{
		{"unchanged peers are not reset", []Peer{peer("a"), peer("b")}, 0},
		{"a peer whose settings changed is reset once", []Peer{slower, peer("b")}, 1},
		{"a peer that loses its IPv6 next hop is reset once", []Peer{noV6, peer("b")}, 1},
		{"a change of BFD settings alone is no reset", []Peer{withBFD, peer("b")}, 0},
		{"a removed peer is not counted as a reset", []Peer{peer("b")}, 0},
		{"a refused request resets nothing", []Peer{slower, peer("b"), peer("b")}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, peer("a"), peer("b"))
			if _, err := f.ReconcilePaths(ctx, ReconcilePathsRequest{Paths: map[string][]Path{"a": {path("203.0.113.10/32")}}}); err != nil {
				t.Fatal(err)
			}
			updates := f.Updates()
			_ = f.ReconcilePeers(ctx, ReconcilePeersRequest{Peers: tt.peers})
			if got := f.PeerResets(); got != tt.wantResets {
				t.Errorf("PeerResets() = %d, want %d", got, tt.wantResets)
			}
			if got := f.Updates(); got != updates {
				t.Errorf("ReconcilePeers sent %d updates, want none", got-updates)
			}
		})
	}
}

// next returns the next session change or fails the test after a second.
func next(t *testing.T, f *Fake) Session {
	t.Helper()
	select {
	case s, ok := <-f.SessionChanges():
		if !ok {
			t.Fatal("SessionChanges closed")
		}
		return s
	case <-time.After(time.Second):
		t.Fatal("no session change within a second")
		return Session{}
	}
}

func TestFakeSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFake(t, peer("a"))
	if s := next(t, f); s.Peer != "a" || s.State != StateIdle {
		t.Errorf("first change = %+v, want peer a in %s", s, StateIdle)
	}
	if _, err := f.ReconcilePaths(ctx, ReconcilePathsRequest{Paths: map[string][]Path{"a": {path("203.0.113.10/32")}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.SetSessionState("a", StateEstablished, ""); err != nil {
		t.Fatal(err)
	}
	if s := next(t, f); s.State != StateEstablished || s.Announced != 1 {
		t.Errorf("change = %+v, want %s with 1 path announced", s, StateEstablished)
	}
	if err := f.SetSessionState("a", StateActive, "hold timer expired"); err != nil {
		t.Fatal(err)
	}
	if s := next(t, f); s.State != StateActive || s.LastError != "hold timer expired" {
		t.Errorf("change = %+v, want %s with the last error", s, StateActive)
	}
	sessions, err := f.Sessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 1 || sessions[0].State != StateActive || sessions[0].LastError != "hold timer expired" {
		t.Errorf("Sessions() = %+v", sessions)
	}
	if err := f.SetSessionState("ghost", StateEstablished, ""); err == nil {
		t.Error("SetSessionState of an unknown peer succeeded")
	}
}

func TestFakeFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFake(t, peer("a"), peer("b"))
	boom := errors.New("boom")
	f.FailPaths("a", boom)
	resp, err := f.ReconcilePaths(ctx, ReconcilePathsRequest{Paths: map[string][]Path{"a": {path("203.0.113.10/32")}, "b": {path("203.0.113.20/32")}}})
	if !errors.Is(err, boom) {
		t.Errorf("ReconcilePaths error = %v, want %v", err, boom)
	}
	want := map[string][]Path{"b": {path("203.0.113.20/32")}}
	if !reflect.DeepEqual(resp.Announced, want) {
		t.Errorf("announced = %v, want %v", resp.Announced, want)
	}
	f.FailPeers(boom)
	if err := f.ReconcilePeers(ctx, ReconcilePeersRequest{}); !errors.Is(err, boom) {
		t.Errorf("ReconcilePeers error = %v, want %v", err, boom)
	}
	if got := len(f.Peers()); got != 2 {
		t.Errorf("a failed ReconcilePeers left %d peers, want 2", got)
	}
}

func TestFakeStopRecordsTheFirstRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFake(t, peer("a"))
	if _, stopped := f.Stopped(); stopped {
		t.Error("Stopped() before Stop reports a stop")
	}
	if err := f.Stop(ctx, StopRequest{KeepRoutes: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.Stop(ctx, StopRequest{}); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	req, stopped := f.Stopped()
	if !stopped || !req.KeepRoutes {
		t.Errorf("Stopped() = %+v, %v; want the first request, KeepRoutes, and true", req, stopped)
	}
}
