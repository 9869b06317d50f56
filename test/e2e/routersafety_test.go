package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/testpoll"
	"github.com/bgplb/bgplb/test/lab"
)

// routerRestartTime is the graceful-restart time the speakers ask routers
// for in the router-safety tests: short, so that the router's restart
// timer ends within the test.
const routerRestartTime = 5 * time.Second

// TestAQuietSpeakerStoppingLeavesADynamicNeighbourFRRRunning stops, as a
// rolling update does, the speaker of a node that announces nothing while
// it is peered with an FRR that knows the nodes as dynamic neighbours. FRR
// 8.4 frees such a peer and then uses it when the graceful-restart timer
// of the session ends, which kills bgpd with every session of the router.
// The router's bgpd must outlive that timer, and the other node's session
// must never drop.
func TestAQuietSpeakerStoppingLeavesADynamicNeighbourFRRRunning(t *testing.T) {
	l, addr := quietNodeLab(t, lab.Config{Neighbours: lab.DynamicNeighbours}, true)
	quiet := l.Nodes[1]
	l.StopSpeaker(quiet, syscall.SIGTERM)
	expectRouterUnharmed(t, l, addr, quiet)
}

// A speaker that dies (SIGKILL here; a power loss is the same to the
// router once the session ends) can send nothing, so the router-side
// settings docs/routers.md gives for FRR 8.4 must keep bgpd alive: static
// neighbours, or, with dynamic neighbours, graceful restart turned off on
// the BGPPeer for that router.
func TestAQuietSpeakerDyingLeavesFRRRunningWithTheDocumentedSettings(t *testing.T) {
	for _, tc := range []struct {
		name            string
		neighbours      string
		gracefulRestart bool
	}{
		{"static neighbours", lab.StaticNeighbours, true},
		{"dynamic neighbours, graceful restart off on the BGPPeer", lab.DynamicNeighbours, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, addr := quietNodeLab(t, lab.Config{Neighbours: tc.neighbours}, tc.gracefulRestart)
			quiet := l.Nodes[1]
			l.StopSpeaker(quiet, syscall.SIGKILL)
			expectRouterUnharmed(t, l, addr, quiet)
		})
	}
}

// quietNodeLab starts two nodes peered with the router of cfg, with or
// without graceful restart, where node-0 announces a Local Service and
// node-1, with no endpoint of it, announces nothing.
func quietNodeLab(t *testing.T, cfg lab.Config, gracefulRestart bool) (*lab.Lab, string) {
	t.Helper()
	cfg.Nodes = 2
	l := startLabWith(t, cfg)
	peer := routerPeer(l)
	peer.Spec.GracefulRestart = &v1alpha1.GracefulRestart{Enabled: ptr.To(gracefulRestart), RestartTime: &metav1.Duration{Duration: routerRestartTime}}
	configurePeer(t, l, v1alpha1.BGPAdvertisementSpec{}, peer)
	svc := createService(t, l, "busy", true)
	if err := l.SetEndpoints(context.Background(), svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addr := serviceAddrs(t, l, svc, 1)[0]
	waitForNextHops(t, l, addr, "node-0")
	// A dynamic-neighbour router only answers: each session is up once its
	// speaker's connection got through.
	testpoll.Until(t, 60*time.Second, "the router has an Established session with every node", func() (bool, string) {
		up, err := l.Router.Established()
		return err == nil && len(up) == len(l.Nodes), fmt.Sprint(up, err)
	})
	return l, addr.String()
}

// expectRouterUnharmed waits until the router has seen the session of
// gone end, then watches for the restart time and 10 s more: bgpd must
// keep running, the other nodes' sessions must stay up without a drop,
// and the Service's route must keep its next hop.
func expectRouterUnharmed(t *testing.T, l *lab.Lab, addr string, gone *lab.Node) {
	t.Helper()
	frr := l.Router.(*lab.FRR)
	before, err := frr.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	testpoll.Until(t, 30*time.Second, "the router sees the session of "+gone.Name+" end", func() (bool, string) {
		s, err := frr.Sessions()
		return err == nil && s[gone.Addr4.String()].State != "Established", fmt.Sprint(s[gone.Addr4.String()], err)
	})
	// Watching for a time is the test itself: nothing should happen.
	testpoll.Throughout(t, routerRestartTime+10*time.Second, "bgpd runs and the other sessions stay untouched after "+gone.Name+"'s speaker stopped", func() (bool, string) {
		if alive, err := frr.BGPDAlive(); err != nil || !alive {
			log, _ := os.ReadFile(frr.LogPath())
			return false, fmt.Sprintf("bgpd died (%v); its log ends:\n%s", err, tail(log, 3000))
		}
		after, err := frr.Sessions()
		if err != nil {
			if alive, _ := frr.BGPDAlive(); !alive {
				return true, "" // the next check reports it, with the log
			}
			return false, err.Error()
		}
		for _, n := range l.Nodes {
			a := n.Addr4.String()
			if n != gone && (after[a].State != "Established" || after[a].Dropped != before[a].Dropped) {
				return false, fmt.Sprintf("the session of %s was touched: %+v, before %+v", n.Name, after[a], before[a])
			}
		}
		return true, ""
	})
	hops, err := l.Router.KernelNextHops(hostPrefix(netip.MustParseAddr(addr)))
	if err != nil || len(hops) != 1 {
		t.Errorf("the Service's route has next hops %v (%v), want node-0's only", hops, err)
	}
}

// BIRD and GoBGP with dynamic neighbours outlive a quiet node's speaker
// that dies with graceful restart negotiated, the case bgplb cannot soften
// with a Cease: the other node's session stays Established throughout the
// restart time and 10 s more.
func TestAQuietSpeakerDyingLeavesBIRDAndGoBGPRunning(t *testing.T) {
	for _, router := range []string{"bird", "gobgp"} {
		for _, sig := range []syscall.Signal{syscall.SIGKILL} {
			t.Run(fmt.Sprintf("%s %s", router, sig), func(t *testing.T) {
				l, addr := quietNodeLab(t, lab.Config{Router: router, Neighbours: lab.DynamicNeighbours}, true)
				quiet := l.Nodes[1]
				l.StopSpeaker(quiet, sig)
				testpoll.Until(t, 30*time.Second, "the router sees the session of "+quiet.Name+" end", func() (bool, string) {
					up, err := l.Router.Established()
					return err == nil && !slices.Contains(up, quiet.Addr4.String()), fmt.Sprint(up, err)
				})
				// Watching for a time is the test itself: nothing should
				// happen. A dead router answers no query.
				want := []string{l.Nodes[0].Addr4.String()}
				testpoll.Throughout(t, routerRestartTime+10*time.Second, fmt.Sprintf("after %s's speaker went, the router's Established sessions stay %v", quiet.Name, want), func() (bool, string) {
					up, err := l.Router.Established()
					return err == nil && slices.Equal(up, want), fmt.Sprint(up, err)
				})
				if hops, err := l.Router.KernelNextHops(hostPrefix(netip.MustParseAddr(addr))); err != nil || len(hops) != 1 {
					t.Errorf("the Service's route has next hops %v (%v), want node-0's only", hops, err)
				}
			})
		}
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
