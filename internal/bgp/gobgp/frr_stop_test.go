package gobgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/poll"
	"github.com/bgplb/bgplb/internal/testpoll"
)

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
