package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/poll"
	"github.com/bgplb/bgplb/internal/testpoll"
	"github.com/bgplb/bgplb/test/lab"
)

// A node that dies without a word (its link cut, then its speaker killed,
// so no FIN reaches the router) leaves the router's next hops within the
// BFD detection time with BFD, and only after the hold time without.
func TestBFDRemovesADeadNodeWithinASecond(t *testing.T) {
	// gobgpd has no BFD.
	forRouters(t, []string{"frr", "bird"}, func(t *testing.T, router string) {
		bfdRemovesADeadNodeWithinASecond(t, startLabWith(t, lab.Config{Nodes: 3, BFD: true, Router: router}))
	})
}

func bfdRemovesADeadNodeWithinASecond(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	createFastBFDProfile(t, l)
	peer := routerPeer(l)
	peer.Spec.BFDProfile = "fast"
	configurePeer(t, l, v1alpha1.BGPAdvertisementSpec{}, peer)
	addr := announcedEverywhere(t, l, "bfd")
	checkBFDTimers(t, l)

	var took []time.Duration
	for run := range 5 {
		victim := l.Nodes[1+run%2]
		d := killAndRevive(t, l, victim, addr, func() { waitForBFDUp(t, l, len(l.Nodes)) })
		t.Logf("run %d: %s left the router's next hops %v after its link was cut", run, victim.Name, d.Round(time.Millisecond))
		took = append(took, d)
	}
	slices.Sort(took)
	if median := took[len(took)/2]; median >= time.Second {
		t.Errorf("median time to drop a dead node with BFD 3 x 100 ms = %v, want under 1s (all: %v)", median, took)
	}

	// The same without BFD waits for the 9 s hold time.
	var current v1alpha1.BGPPeer
	if err := l.Client.Get(ctx, client.ObjectKey{Name: "router"}, &current); err != nil {
		t.Fatal(err)
	}
	current.Spec.BFDProfile = ""
	if err := l.Client.Update(ctx, &current); err != nil {
		t.Fatal(err)
	}
	waitForBFDUp(t, l, 0)
	waitForNextHops(t, l, addr, allNodes(l)...)
	without := killAndRevive(t, l, l.Nodes[2], addr, func() {})
	t.Logf("without BFD: %v", without.Round(time.Millisecond))
	if without < 5*time.Second {
		t.Errorf("without BFD the dead node left after %v; the test expects the 9s hold time, so it cannot tell BFD from no BFD", without)
	}
}

// checkBFDTimers waits until every node has a BFD session up at the
// router and checks that the router runs them with the "fast" profile's
// timers, which are also its own: a node announcing other timers shows
// in what the router negotiated, and FRR shows the node's own.
func checkBFDTimers(t *testing.T, l *lab.Lab) {
	t.Helper()
	waitForBFDUp(t, l, len(l.Nodes))
	sessions, err := l.Router.(lab.BFDRouter).BFDSessions()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if s.TransmitInterval != 100*time.Millisecond || s.DetectionTime != 300*time.Millisecond {
			t.Errorf("the router sends to %s every %v and declares it down after %v, want 100ms and 300ms", s.Peer, s.TransmitInterval, s.DetectionTime)
		}
	}
	frr, ok := l.Router.(*lab.FRR)
	if !ok {
		return
	}
	peers, err := frr.BFDPeers()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		if p.RemoteTransmitInterval != 100 || p.RemoteReceiveInterval != 100 || p.RemoteDetectMultiplier != 3 {
			t.Errorf("router sees BFD timers %d/%d x %d from %s, want the profile's 100/100 x 3",
				p.RemoteReceiveInterval, p.RemoteTransmitInterval, p.RemoteDetectMultiplier, p.Peer)
		}
	}
}

// killAndRevive cuts a node's link, kills its speaker, and returns how
// long the router's kernel kept it as a next hop of addr. Then it brings
// the node back and waits until it is a next hop again.
func killAndRevive(t *testing.T, l *lab.Lab, victim *lab.Node, addr netip.Addr, whenBack func()) time.Duration {
	t.Helper()
	var others []string
	for _, n := range l.Nodes {
		if n != victim {
			others = append(others, n.Name)
		}
	}
	want := nodeAddrs(l, addr.Is6(), others...)
	restore, err := l.CutLink(victim)
	if err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	l.StopSpeaker(victim, syscall.SIGKILL)
	// Checking every 10 ms measures the detection time to within that.
	err = poll.UntilEvery(context.Background(), 10*time.Millisecond, 60*time.Second, victim.Name+" is no next hop after its link was cut", func() (bool, string) {
		got, err := l.Router.KernelNextHops(hostPrefix(addr))
		return err == nil && slices.Equal(got, want), fmt.Sprint(got, err)
	})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(cut)
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if err := l.StartSpeaker(victim); err != nil {
		t.Fatal(err)
	}
	waitForNextHopsWithin(t, l, addr, 60*time.Second, allNodes(l)...)
	whenBack()
	return took
}

// waitForBFDUp waits until exactly n of the router's BFD sessions are up.
func waitForBFDUp(t *testing.T, l *lab.Lab, n int) {
	t.Helper()
	router := l.Router.(lab.BFDRouter)
	testpoll.Until(t, 30*time.Second, fmt.Sprintf("%d BFD sessions are up at the router", n), func() (bool, string) {
		sessions, err := router.BFDSessions()
		up := 0
		for _, s := range sessions {
			if s.Up {
				up++
			}
		}
		return err == nil && up == n, fmt.Sprintf("%+v %v", sessions, err)
	})
}

// announcedEverywhere creates a Cluster-policy Service with one ready
// endpoint, waits for its address and for the router's kernel route to
// have every node as next hop, and returns the address.
func announcedEverywhere(t *testing.T, l *lab.Lab, name string) netip.Addr {
	t.Helper()
	svc := createService(t, l, name, false)
	if err := l.SetEndpoints(context.Background(), svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addr := serviceAddrs(t, l, svc, 1)[0]
	waitForNextHops(t, l, addr, allNodes(l)...)
	return addr
}

// createFastBFDProfile creates the BFDProfile "fast", 3 x 100 ms, the
// lab router's own timers.
func createFastBFDProfile(t *testing.T, l *lab.Lab) {
	t.Helper()
	profile := &v1alpha1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, Spec: v1alpha1.BFDProfileSpec{
		ReceiveInterval: ptr.To[int32](100), TransmitInterval: ptr.To[int32](100), DetectMultiplier: ptr.To[int32](3)}}
	if err := l.Client.Create(context.Background(), profile); err != nil {
		t.Fatal(err)
	}
}
