package bgptest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/bgp"
)

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func wantCancelled(t *testing.T, call string, err error) {
	t.Helper()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%s with a cancelled context: error = %v, want %v", call, err, context.Canceled)
	}
}

func cancelledContextCases() []suiteCase {
	return []suiteCase{
		{"ReconcilePeers fails and changes nothing", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"))
			err := e.ReconcilePeers(cancelled(), bgp.ReconcilePeersRequest{Peers: []bgp.Peer{peer("b")}})
			wantCancelled(t, "ReconcilePeers", err)
			if got := peerNames(t, e); !slices.Equal(got, []string{"a"}) {
				t.Errorf("peers = %v, want only a", got)
			}
		}},
		{"ReconcilePaths fails and changes nothing", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"))
			want := reconcilePaths(t, e, announced{"a": {path(webV4)}})
			resp, err := e.ReconcilePaths(cancelled(), bgp.ReconcilePathsRequest{Paths: announced{"a": {path(dbV4)}}})
			wantCancelled(t, "ReconcilePaths", err)
			wantAnnounced(t, "the response", resp.Announced, want)
			wantAnnouncedCounts(t, e, map[string]int{"a": 1})
		}},
		{"Sessions fails", func(t *testing.T, e bgp.Engine) {
			reconcilePeers(t, e, peer("a"))
			_, err := e.Sessions(cancelled())
			wantCancelled(t, "Sessions", err)
		}},
	}
}

func concurrencyCases() []suiteCase {
	return []suiteCase{{"calls from many goroutines apply one at a time, each as a whole", concurrentCalls}}
}

// concurrentCalls has several goroutines ask for different paths while
// another one adds and removes a peer, others read Sessions and
// SessionChanges. Each ReconcilePaths call must answer with exactly its
// own request: an engine that applied two calls at once, or part of one,
// would answer with a mix. Run with -race, it also finds unguarded state.
func concurrentCalls(t *testing.T, e bgp.Engine) {
	const callers, rounds = 4, 3
	reconcilePeers(t, e, peer("a"), peer("b"))
	changesDone := make(chan struct{})
	go func() {
		defer close(changesDone)
		for range e.SessionChanges() {
		}
	}()
	var wg sync.WaitGroup
	wg.Go(func() {
		for r := range rounds {
			peers := []bgp.Peer{peer("a"), peer("b")}
			if r%2 == 0 {
				peers = append(peers, peer("extra"))
			}
			if err := e.ReconcilePeers(context.Background(), bgp.ReconcilePeersRequest{Peers: peers}); err != nil {
				t.Errorf("ReconcilePeers in round %d: %v", r, err)
			}
		}
	})
	for caller := range callers {
		wg.Go(func() {
			for r := range rounds {
				if err := pathsAsAWhole(e, caller*rounds+r); err != nil {
					t.Error(err)
				}
				if _, err := e.Sessions(context.Background()); err != nil {
					t.Errorf("Sessions: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if err := pathsAsAWhole(e, callers*rounds); err != nil {
		t.Error(err)
	}
	// Stop closes SessionChanges, which ends its reader.
	stopEngine(t, e)
	<-changesDone
}

// pathsAsAWhole asks for a set of paths that differs with n and checks
// that the response is that set.
func pathsAsAWhole(e bgp.Engine, n int) error {
	req := announced{"a": {path(webV4, uint32(n))}}
	if n%2 == 0 {
		req["a"] = append(req["a"], path(dbV4, uint32(n)))
		req["b"] = []bgp.Path{path(webV6, uint32(n))}
	}
	resp, err := e.ReconcilePaths(context.Background(), bgp.ReconcilePathsRequest{Paths: req})
	if err != nil {
		return fmt.Errorf("ReconcilePaths %d: %w", n, err)
	}
	if !equalAnnounced(resp.Announced, req) {
		return fmt.Errorf("ReconcilePaths %d answered %s, want its own request %s", n, format(resp.Announced), format(req))
	}
	return nil
}

func stopCases() []suiteCase {
	return []suiteCase{
		{"calls after Stop fail, and a second Stop does nothing", callsAfterStop},
		{"Stop ends every session", func(t *testing.T, e bgp.Engine) {
			wantEveryPeerIdleAfterStop(t, e, bgp.StopRequest{})
		}},
		{"Stop keeping routes ends every session too", func(t *testing.T, e bgp.Engine) {
			wantEveryPeerIdleAfterStop(t, e, bgp.StopRequest{KeepRoutes: true})
		}},
	}
}

func callsAfterStop(t *testing.T, e bgp.Engine) {
	ctx := context.Background()
	reconcilePeers(t, e, peer("a"))
	reconcilePaths(t, e, announced{"a": {path(webV4)}})
	if err := e.Stop(ctx, bgp.StopRequest{}); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := e.ReconcilePeers(ctx, bgp.ReconcilePeersRequest{Peers: []bgp.Peer{peer("a")}}); !errors.Is(err, bgp.ErrStopped) {
		t.Errorf("ReconcilePeers after Stop: error = %v, want %v", err, bgp.ErrStopped)
	}
	if _, err := e.ReconcilePaths(ctx, bgp.ReconcilePathsRequest{}); !errors.Is(err, bgp.ErrStopped) {
		t.Errorf("ReconcilePaths after Stop: error = %v, want %v", err, bgp.ErrStopped)
	}
	wantClosed(t, e)
	if err := e.Stop(ctx, bgp.StopRequest{KeepRoutes: true}); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// wantEveryPeerIdleAfterStop stops an engine with two peers, one of which
// announces a path and the other asks for BFD, and checks that Sessions
// still answers and shows both sessions ended.
func wantEveryPeerIdleAfterStop(t *testing.T, e bgp.Engine, req bgp.StopRequest) {
	reconcilePeers(t, e, peer("a"), changed("b", func(p *bgp.Peer) {
		p.BFD = &bgp.BFD{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3}
	}))
	reconcilePaths(t, e, announced{"a": {path(webV4)}, "b": {}})
	if err := e.Stop(context.Background(), req); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	got := sessions(t, e)
	for _, name := range []string{"a", "b"} {
		if s, ok := got[name]; !ok || s.State != bgp.StateIdle {
			t.Errorf("after Stop, session of %s = %+v (present %v), want it %s", name, s, ok, bgp.StateIdle)
		}
	}
	if s := got["b"]; s.BFD != bgp.BFDDown {
		t.Errorf("after Stop, BFD of the peer with BFD = %q, want %q", s.BFD, bgp.BFDDown)
	}
}
