package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/utils/ptr"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/speaker"
	"github.com/bgplb/bgplb/internal/testpoll"
	"github.com/bgplb/bgplb/test/lab"
)

// A speaker restart, clean (SIGTERM, as in a rolling update) or not
// (SIGKILL), changes nothing at the router with graceful restart: the
// kernel next hops stay the same at every poll and none of 1,000 busy
// connections breaks. Without graceful restart the same restarts break
// connections, which shows that the measurement can see breakage. With
// BFD on as well, the router must still treat a restart as a restart.
func TestASpeakerRestartBreaksNoConnectionWithGracefulRestart(t *testing.T) {
	for _, tc := range []struct {
		name        string
		gr, bfd     bool
		wantHitless bool
	}{
		{name: "graceful restart", gr: true, wantHitless: true},
		{name: "graceful restart and BFD", gr: true, bfd: true, wantHitless: true},
		{name: "no graceful restart", gr: false, wantHitless: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := startLabWith(t, lab.Config{Nodes: 3, BFD: tc.bfd})
			peer := routerPeer(l)
			peer.Spec.GracefulRestart = &v1alpha1.GracefulRestart{Enabled: ptr.To(tc.gr)}
			if tc.bfd {
				createFastBFDProfile(t, l)
				peer.Spec.BFDProfile = "fast"
			}
			configurePeer(t, l, v1alpha1.BGPAdvertisementSpec{}, peer)
			addr := announcedEverywhere(t, l, "restart")
			if tc.bfd {
				waitForBFDUp(t, l, len(l.Nodes))
			}

			for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
				victim := l.Nodes[1]
				d := startDisruption(t, l, addr, 1000)
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
				if err := l.StartSpeaker(victim); err != nil {
					t.Fatal(err)
				}
				testpoll.Until(t, 60*time.Second, "the session to "+victim.Name+" is back", func() (bool, string) {
					up, err := l.Router.Established()
					return err == nil && slices.Contains(up, victim.Addr4.String()), fmt.Sprint(up, err)
				})
				waitForNextHopsWithin(t, l, addr, 60*time.Second, allNodes(l)...)
				// Traffic goes on after the restart, through End-of-RIB
				// and the end of the stale routes.
				keepTraffic(t, d, 3*time.Second)
				history := w.Stop()
				report := d.Stop()
				t.Logf("%s of %s: next hops changed %d times in %d polls\n%s", sig, victim.Name, len(history.Changes), history.Polls, report)

				if tc.wantHitless {
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
				} else if report.Broken() == 0 {
					t.Errorf("%s without graceful restart broke no connection; the measurement cannot tell", sig)
				}
			}
			if n := grWarnings(t, l); tc.gr && n != 0 {
				t.Errorf("%d %s events although the router offers graceful restart", n, speaker.EventGracefulRestartNotNegotiated)
			}
		})
	}
}

// A router that does not offer graceful restart makes every speaker
// restart withdraw routes; each speaker says so on the BGPPeer at once,
// not at the first restart.
func TestARouterWithoutGracefulRestartIsReportedOnThePeer(t *testing.T) {
	l := startLabWith(t, lab.Config{Nodes: 2, RouterWithoutGracefulRestart: true})
	configure(t, l, v1alpha1.BGPAdvertisementSpec{})
	testpoll.Until(t, 30*time.Second, "every node reports the missing graceful restart on the BGPPeer", func() (bool, string) {
		nodes := map[string]bool{}
		for _, e := range grEvents(t, l) {
			for _, n := range l.Nodes {
				if strings.Contains(e.Note, "node "+n.Name+" ") {
					nodes[n.Name] = true
				}
			}
		}
		return len(nodes) == len(l.Nodes), fmt.Sprint(nodes)
	})
	for _, n := range l.Nodes {
		if !strings.Contains(l.SpeakerLog(n), "graceful restart not negotiated") {
			t.Errorf("%s's speaker did not log the missing graceful restart", n.Name)
		}
	}
}

// grEvents lists the speakers' warnings that the router "router" did not
// offer graceful restart.
func grEvents(t *testing.T, l *lab.Lab) []eventsv1.Event {
	t.Helper()
	var events eventsv1.EventList
	if err := l.Client.List(context.Background(), &events); err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range events.Items {
		if e.Reason == speaker.EventGracefulRestartNotNegotiated && e.Regarding.Kind == "BGPPeer" && e.Regarding.Name == "router" {
			out = append(out, e)
		}
	}
	return out
}

func grWarnings(t *testing.T, l *lab.Lab) int { return len(grEvents(t, l)) }
