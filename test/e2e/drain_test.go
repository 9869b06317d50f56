package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/testpoll"
	"github.com/bgplb/bgplb/test/lab"
)

// labDrainTime is the peers' drain time in these tests: long enough to
// see the router act before the withdrawal, short enough for a test.
const labDrainTime = 6 * time.Second

// A planned drain (the bgplb.io/drain annotation) first re-announces the
// node's paths with the graceful-shutdown community, so the router stops
// choosing the node while it still forwards, and withdraws them only after
// the drain time; the session stays up and no new connection fails.
func TestAPlannedDrainMovesTrafficAwayBeforeTheNodeStopsForwarding(t *testing.T) {
	l, addr := drainLab(t, lab.Config{Nodes: 3}, "drain")
	frr := l.Router.(*lab.FRR)
	victim := l.Nodes[1]

	d := startDisruption(t, l, addr, 300)
	started := time.Now()
	setNodeAnnotation(t, l, victim.Name, v1alpha1.AnnotationDrain, "true")
	waitForNextHopsWithin(t, l, addr, 10*time.Second, "node-0", "node-2")
	leftKernel := time.Now()
	paths := routerPathsFrom(t, frr, addr, victim)
	if len(paths) != 1 || !strings.Contains(paths[0].Communities, "graceful-shutdown") || paths[0].Multipath {
		t.Errorf("while draining, the router's path from %s = %+v; want one, with graceful-shutdown, out of the multipath set", victim.Name, paths)
	}
	testpoll.Until(t, 3*labDrainTime, "the router's path from "+victim.Name+" is withdrawn", func() (bool, string) {
		p := routerPathsFrom(t, frr, addr, victim)
		return len(p) == 0, fmt.Sprint(p)
	})
	withdrawn := time.Now()
	keepTraffic(t, d, time.Second)
	report := d.Stop()
	t.Logf("router dropped %s from the kernel after %v, withdrawal after %v\n%s", victim.Name,
		leftKernel.Sub(started).Round(time.Millisecond), withdrawn.Sub(started).Round(time.Millisecond), report)

	if report.Probe.Failures != 0 {
		t.Errorf("%d of %d new connections failed during the drain (first: %s)", report.Probe.Failures, report.Probe.Attempts, report.Probe.FirstError)
	}
	if gap := withdrawn.Sub(leftKernel); gap < labDrainTime/2 {
		t.Errorf("the router stopped choosing %s only %v before the withdrawal; want most of the %v drain time", victim.Name, gap, labDrainTime)
	}
	up, err := l.Router.Established()
	if err != nil || !slices.Contains(up, victim.Addr4.String()) {
		t.Errorf("the session to the drained node is down (%v, %v); a drain keeps it", up, err)
	}
	// Established connections of the drained node are re-hashed when the
	// router drops it, and with the kernel's hash-threshold multipath so
	// are some of the other nodes'; only resilient next-hop groups at the
	// router keep those.

	// Removing the annotation brings the node back.
	setNodeAnnotation(t, l, victim.Name, v1alpha1.AnnotationDrain, "")
	waitForNextHops(t, l, addr, allNodes(l)...)
}

// SIGTERM on a draining node does not cut the drain short: the speaker
// keeps announcing until the drain time ends, withdraws, and says goodbye
// with a Cease instead of leaving stale routes for a graceful restart.
func TestASpeakerStoppedWhileDrainingFinishesTheDrainFirst(t *testing.T) {
	// The router's record of how a session ended lasts only as long as
	// the neighbour: with static neighbours.
	l, addr := drainLab(t, lab.Config{Nodes: 2, Neighbours: lab.StaticNeighbours}, "drain-stop")
	frr := l.Router.(*lab.FRR)
	victim := l.Nodes[1]

	drainStarted := time.Now()
	setNodeAnnotation(t, l, victim.Name, v1alpha1.AnnotationDrain, "true")
	waitForNextHopsWithin(t, l, addr, 10*time.Second, "node-0")

	stopped := make(chan time.Time, 1)
	go func() {
		l.StopSpeaker(victim, syscall.SIGTERM)
		stopped <- time.Now()
	}()
	testpoll.Until(t, 3*labDrainTime, "the router's path from "+victim.Name+" is withdrawn", func() (bool, string) {
		p := routerPathsFrom(t, frr, addr, victim)
		return len(p) == 0, fmt.Sprint(p)
	})
	withdrawn := time.Now()
	exited := <-stopped
	if early := drainStarted.Add(labDrainTime - time.Second); withdrawn.Before(early) {
		t.Errorf("withdrawn %v after the drain started; the drain time is %v", withdrawn.Sub(drainStarted), labDrainTime)
	}
	if exited.Before(withdrawn.Add(-time.Second)) {
		t.Errorf("the speaker exited %v before its paths were withdrawn", withdrawn.Sub(exited))
	}
	out, err := frr.Vtysh("show bgp neighbors " + victim.Addr4.String() + " json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Cease") {
		t.Errorf("the router's record of the session does not mention a Cease:\n%s", out)
	}
}

// drainLab starts a lab whose peers drain for labDrainTime, with a
// Service announced from every node, and returns the lab and its address.
func drainLab(t *testing.T, cfg lab.Config, service string) (*lab.Lab, netip.Addr) {
	t.Helper()
	l := startLabWith(t, cfg)
	peer := routerPeer(l)
	peer.Spec.DrainTime = &metav1.Duration{Duration: labDrainTime}
	configurePeer(t, l, v1alpha1.BGPAdvertisementSpec{}, peer)
	return l, announcedEverywhere(t, l, service)
}

func setNodeAnnotation(t *testing.T, l *lab.Lab, node, key, value string) {
	t.Helper()
	var n corev1.Node
	if err := l.Client.Get(context.Background(), client.ObjectKey{Name: node}, &n); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(n.DeepCopy())
	if value == "" {
		delete(n.Annotations, key)
	} else {
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		n.Annotations[key] = value
	}
	if err := l.Client.Patch(context.Background(), &n, patch); err != nil {
		t.Fatal(err)
	}
}

// routerPathsFrom returns the router's BGP paths for addr whose next hop
// is the node.
func routerPathsFrom(t *testing.T, router lab.Router, addr netip.Addr, n *lab.Node) []lab.RIBPath {
	t.Helper()
	paths, err := router.BGPPaths(hostPrefix(addr))
	if err != nil {
		// No route at all reads as an error for some FRR versions.
		return nil
	}
	var out []lab.RIBPath
	for _, p := range paths {
		if p.NextHop == n.Addr4.String() {
			out = append(out, p)
		}
	}
	return out
}
