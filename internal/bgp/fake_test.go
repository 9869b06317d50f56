package bgp

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strings"
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

func TestFakeReconcilePaths(t *testing.T) {
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
		before      []map[string][]Path // applied in order first; must succeed
		req         map[string][]Path
		wantUpdates int // sent by req alone
		wantPaths   map[string][]Path
		wantErr     string
	}{
		{
			name:        "the first request advertises every path to every peer it names",
			peers:       []Peer{a, b},
			req:         map[string][]Path{"a": {web, webV6}, "b": {db}},
			wantUpdates: 3,
			wantPaths:   map[string][]Path{"a": {web, webV6}, "b": {db}},
		},
		{
			name:        "the same request twice sends nothing the second time",
			peers:       []Peer{a},
			before:      []map[string][]Path{{"a": {web, db}}},
			req:         map[string][]Path{"a": {db, web}},
			wantUpdates: 0,
			wantPaths:   map[string][]Path{"a": {web, db}},
		},
		{
			name:   "nil and empty attribute lists are the same path",
			peers:  []Peer{a},
			before: []map[string][]Path{{"a": {{Prefix: web.Prefix, Communities: []uint32{}}}}},
			req:    map[string][]Path{"a": {{Prefix: web.Prefix}}},
			// Nothing changed.
			wantUpdates: 0,
			wantPaths:   map[string][]Path{"a": {{Prefix: web.Prefix, Communities: []uint32{}}}},
		},
		{
			name:        "a path whose attributes changed is advertised again",
			peers:       []Peer{a},
			before:      []map[string][]Path{{"a": {web, db}}},
			req:         map[string][]Path{"a": {{Prefix: web.Prefix, Communities: web.Communities, MED: u32(10)}, db}},
			wantUpdates: 1,
			wantPaths:   map[string][]Path{"a": {{Prefix: web.Prefix, Communities: web.Communities, MED: u32(10)}, db}},
		},
		{
			name:        "a path no longer requested is withdrawn",
			peers:       []Peer{a},
			before:      []map[string][]Path{{"a": {web, db}}},
			req:         map[string][]Path{"a": {db}},
			wantUpdates: 1,
			wantPaths:   map[string][]Path{"a": {db}},
		},
		{
			name:        "a peer absent from the request has all its paths withdrawn",
			peers:       []Peer{a, b},
			before:      []map[string][]Path{{"a": {web, db}, "b": {db}}},
			req:         map[string][]Path{"b": {db}},
			wantUpdates: 2,
			wantPaths:   map[string][]Path{"b": {db}},
		},
		{
			name:        "paths for a peer that is not configured are reported and the rest is applied",
			peers:       []Peer{a},
			req:         map[string][]Path{"a": {web}, "ghost": {db}},
			wantUpdates: 1,
			wantPaths:   map[string][]Path{"a": {web}},
			wantErr:     `peer "ghost" is not configured`,
		},
		{
			name:        "an IPv6 path to a peer without an IPv6 next hop is rejected, its IPv4 paths are not",
			peers:       []Peer{v4Only},
			req:         map[string][]Path{"v4only": {web, webV6}},
			wantUpdates: 1,
			wantPaths:   map[string][]Path{"v4only": {web}},
			wantErr:     "no next hop of its family",
		},
		{
			name:        "a prefix with host bits set is rejected",
			peers:       []Peer{a},
			req:         map[string][]Path{"a": {path("203.0.113.10/24")}},
			wantUpdates: 0,
			wantPaths:   map[string][]Path{},
			wantErr:     "not a valid masked prefix",
		},
		{
			name:        "a prefix listed twice is announced once, with the first attributes",
			peers:       []Peer{a},
			req:         map[string][]Path{"a": {web, path("203.0.113.10/32", 200)}},
			wantUpdates: 1,
			wantPaths:   map[string][]Path{"a": {web}},
			wantErr:     "listed more than once",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFake(t, tt.peers...)
			for i, paths := range tt.before {
				if _, err := f.ReconcilePaths(ctx, ReconcilePathsRequest{Paths: paths}); err != nil {
					t.Fatalf("before[%d]: %v", i, err)
				}
			}
			start := f.Updates()
			resp, err := f.ReconcilePaths(ctx, ReconcilePathsRequest{Paths: tt.req})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ReconcilePaths: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("ReconcilePaths error = %v, want one containing %q", err, tt.wantErr)
			}
			if got := f.Updates() - start; got != tt.wantUpdates {
				t.Errorf("updates sent = %d, want %d", got, tt.wantUpdates)
			}
			if !reflect.DeepEqual(resp.Announced, tt.wantPaths) {
				t.Errorf("announced = %v, want %v", resp.Announced, tt.wantPaths)
			}
			for name, want := range tt.wantPaths {
				if got := f.Paths(name); !reflect.DeepEqual(got, want) {
					t.Errorf("Paths(%q) = %v, want %v", name, got, want)
				}
			}
		})
	}
}

func TestFakeKeepsNoReferenceToTheRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFake(t, peer("a"))
	req := []Path{{Prefix: netip.MustParsePrefix("203.0.113.10/32"), Communities: []uint32{1}, MED: u32(5)}}
	if _, err := f.ReconcilePaths(ctx, ReconcilePathsRequest{Paths: map[string][]Path{"a": req}}); err != nil {
		t.Fatal(err)
	}
	req[0].Communities[0] = 2
	*req[0].MED = 6
	got := f.Paths("a")
	if got[0].Communities[0] != 1 || *got[0].MED != 5 {
		t.Errorf("the Fake's path changed with the caller's slice: %+v", got[0])
	}
	got[0].Communities[0] = 3
	if f.Paths("a")[0].Communities[0] != 1 {
		t.Error("the Fake's path changed with the returned slice")
	}
}

func TestFakeReconcilePeers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	web := path("203.0.113.10/32")
	webV6 := path("2001:db8:100::10/128")
	slower := peer("a")
	slower.HoldTime = 90 * time.Second
	noV6 := peer("a")
	noV6.NextHopIPv6 = netip.Addr{}
	tests := []struct {
		name       string
		peers      []Peer
		wantResets int
		wantPaths  map[string][]Path
		wantErr    string
	}{
		{
			name:      "unchanged peers are not reset and keep their paths",
			peers:     []Peer{peer("a"), peer("b")},
			wantPaths: map[string][]Path{"a": {web, webV6}, "b": {web}},
		},
		{
			name:       "a peer whose settings changed is reset once and keeps its paths",
			peers:      []Peer{slower, peer("b")},
			wantResets: 1,
			wantPaths:  map[string][]Path{"a": {web, webV6}, "b": {web}},
		},
		{
			name:       "a peer that loses its IPv6 next hop loses its IPv6 paths",
			peers:      []Peer{noV6, peer("b")},
			wantResets: 1,
			wantPaths:  map[string][]Path{"a": {web}, "b": {web}},
		},
		{
			name:      "a removed peer loses its paths and is not counted as a reset",
			peers:     []Peer{peer("b")},
			wantPaths: map[string][]Path{"b": {web}},
		},
		{
			name:      "a request with a duplicate name changes nothing",
			peers:     []Peer{peer("b"), peer("b")},
			wantPaths: map[string][]Path{"a": {web, webV6}, "b": {web}},
			wantErr:   "listed more than once",
		},
		{
			name:      "a request with a peer without router ID changes nothing",
			peers:     []Peer{{Name: "c", Address: netip.MustParseAddr("198.18.0.3")}},
			wantPaths: map[string][]Path{"a": {web, webV6}, "b": {web}},
			wantErr:   "router ID",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, peer("a"), peer("b"))
			if _, err := f.ReconcilePaths(ctx, ReconcilePathsRequest{Paths: map[string][]Path{"a": {web, webV6}, "b": {web}}}); err != nil {
				t.Fatal(err)
			}
			updates := f.Updates()
			err := f.ReconcilePeers(ctx, ReconcilePeersRequest{Peers: tt.peers})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ReconcilePeers: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("ReconcilePeers error = %v, want one containing %q", err, tt.wantErr)
			}
			if got := f.PeerResets(); got != tt.wantResets {
				t.Errorf("PeerResets() = %d, want %d", got, tt.wantResets)
			}
			if got := f.Updates(); got != updates {
				t.Errorf("ReconcilePeers sent %d updates, want none", got-updates)
			}
			resp, err := f.ReconcilePaths(ctx, ReconcilePathsRequest{Paths: tt.wantPaths})
			if err != nil {
				t.Fatalf("ReconcilePaths after ReconcilePeers: %v", err)
			}
			if !reflect.DeepEqual(resp.Announced, tt.wantPaths) {
				t.Errorf("announced = %v, want %v", resp.Announced, tt.wantPaths)
			}
			if got := f.Updates(); got != updates {
				t.Errorf("requesting the paths that should be left sent %d updates, want none", got-updates)
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

func TestFakeStop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFake(t, peer("a"))
	if err := f.Stop(ctx, StopRequest{KeepRoutes: true}); err != nil {
		t.Fatal(err)
	}
	req, stopped := f.Stopped()
	if !stopped || !req.KeepRoutes {
		t.Errorf("Stopped() = %+v, %v; want KeepRoutes, true", req, stopped)
	}
	deadline := time.After(time.Second)
	for closed := false; !closed; {
		select {
		case _, ok := <-f.SessionChanges():
			closed = !ok
		case <-deadline:
			t.Fatal("SessionChanges not closed by Stop")
		}
	}
	if err := f.ReconcilePeers(ctx, ReconcilePeersRequest{}); err == nil {
		t.Error("ReconcilePeers after Stop succeeded")
	}
	if _, err := f.ReconcilePaths(ctx, ReconcilePathsRequest{}); err == nil {
		t.Error("ReconcilePaths after Stop succeeded")
	}
	if err := f.Stop(ctx, StopRequest{}); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if req, _ := f.Stopped(); !req.KeepRoutes {
		t.Error("a second Stop replaced the first request")
	}
}
