package e2e

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/speaker"
	"github.com/bgplb/bgplb/internal/testpoll"
	"github.com/bgplb/bgplb/test/lab"
)

// TestClusterServiceAgainstGoBGP runs the basic scenario through a GoBGP
// router (Debian's gobgpd) that accepts the nodes as dynamic neighbours, as
// users most often configure it, and one configured with each node.
func TestClusterServiceAgainstGoBGP(t *testing.T) {
	for _, neighbours := range []string{lab.StaticNeighbours, lab.DynamicNeighbours} {
		t.Run(neighbours, func(t *testing.T) {
			l := startLabWith(t, lab.Config{Nodes: 3, Router: "gobgp", Neighbours: neighbours})
			gobgp := l.Router.(*lab.GoBGP)
			// Before the nodes peer, gobgpd lists the configured
			// neighbours, not Established; dynamic ones appear only once
			// they connect.
			want := map[string]int{lab.StaticNeighbours: len(l.Nodes), lab.DynamicNeighbours: 0}[neighbours]
			known, err := gobgp.Neighbours()
			if err != nil || len(known) != want || slices.ContainsFunc(known, func(n lab.GoBGPNeighbour) bool { return n.Established }) {
				t.Fatalf("before the nodes peer, gobgpd knows neighbours %+v (%v); want %d, none Established", known, err, want)
			}
			clusterServiceScenario(t, l)
			if known, err = gobgp.Neighbours(); err != nil {
				t.Fatal(err)
			}
			var addrs []string
			for _, n := range known {
				addrs = append(addrs, n.Address)
			}
			if want := nodeAddrs(l, false, allNodes(l)...); !slices.Equal(addrs, want) {
				t.Errorf("gobgpd's neighbours are %v, want the nodes %v", addrs, want)
			}
		})
	}
}

// A speaker restart, clean (SIGTERM) or not (SIGKILL), changes nothing at
// a GoBGP router with dynamic neighbours: gobgpd, as graceful-restart
// helper, keeps the node's paths while the speaker is away, so the
// router's kernel next hops stay the same at every poll and no busy
// connection breaks.
func TestASpeakerRestartKeepsItsRoutesAtAGoBGPRouter(t *testing.T) {
	l := startLabWith(t, lab.Config{Nodes: 3, Router: "gobgp", Neighbours: lab.DynamicNeighbours})
	peer := routerPeer(l)
	peer.Spec.GracefulRestart = &v1alpha1.GracefulRestart{Enabled: ptr.To(true)}
	configurePeer(t, l, v1alpha1.BGPAdvertisementSpec{}, peer)
	addr := announcedEverywhere(t, l, "restart")

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		victim := l.Nodes[1]
		d := startDisruption(t, l, addr, 300)
		if d.Bound()[victim.Name] == 0 {
			t.Fatalf("no connection is bound to %s: %v", victim.Name, d.Bound())
		}
		w := l.WatchNextHops(hostPrefix(addr), 20*time.Millisecond)
		t.Cleanup(func() { w.Stop() })
		l.StopSpeaker(victim, sig)
		testpoll.Until(t, 30*time.Second, "the router sees the session to "+victim.Name+" end", func() (bool, string) {
			up, err := l.Router.Established()
			return err == nil && !slices.Contains(up, victim.Addr4.String()), fmt.Sprint(up, err)
		})
		// While the speaker is away, its path is still in the router's
		// table and still one of the multipath set.
		paths, err := l.Router.BGPPaths(hostPrefix(addr))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(paths, func(p lab.RIBPath) bool { return p.NextHop == victim.Addr4.String() && p.Multipath }) {
			t.Errorf("%s: with the speaker of %s stopped, the router's paths are %+v; want its path kept in the multipath set", sig, victim.Name, paths)
		}
		if err := l.StartSpeaker(victim); err != nil {
			t.Fatal(err)
		}
		testpoll.Until(t, 60*time.Second, "the session to "+victim.Name+" is back", func() (bool, string) {
			up, err := l.Router.Established()
			return err == nil && slices.Contains(up, victim.Addr4.String()), fmt.Sprint(up, err)
		})
		waitForNextHopsWithin(t, l, addr, 60*time.Second, allNodes(l)...)
		// Traffic goes on after the restart, through End-of-RIB and the
		// end of the stale paths.
		keepTraffic(t, d, 3*time.Second)
		history := w.Stop()
		report := d.Stop()
		t.Logf("%s of %s: next hops changed %d times in %d polls\n%s", sig, victim.Name, len(history.Changes), history.Polls, report)
		if report.Broken() != 0 || report.Probe.Failures != 0 {
			t.Errorf("%s: %d of %d connections broke and %d of %d new connections failed; want none",
				sig, report.Broken(), report.Total.Conns, report.Probe.Failures, report.Probe.Attempts)
		}
		if history.Polls == 0 || history.Errors != 0 {
			t.Errorf("%s: the next-hop watch polled %d times with %d errors; it proves nothing", sig, history.Polls, history.Errors)
		}
		if len(history.Changes) != 0 {
			t.Errorf("%s: the router's kernel next hops changed: from %v through %+v", sig, history.Initial, history.Changes)
		}
	}
	if n := grWarnings(t, l); n != 0 {
		t.Errorf("%d %s events although the router offers graceful restart", n, speaker.EventGracefulRestartNotNegotiated)
	}
}
