package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/testpoll"
	"github.com/bgplb/bgplb/test/lab"
)

func TestRoutesStayWhileTheAPIServerIsDown(t *testing.T) {
	l := startLab(t, 3)
	configure(t, l, v1alpha1.BGPAdvertisementSpec{})
	ctx := context.Background()
	svc := createService(t, l, "steady", false)
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addr := serviceAddrs(t, l, svc, 1)[0]
	waitForNextHops(t, l, addr, allNodes(l)...)
	want := nodeAddrs(l, false, allNodes(l)...)

	restart, err := l.StopAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	// The outage lasts as long as the test says: watching through it is
	// the test.
	testpoll.Throughout(t, 30*time.Second, fmt.Sprintf("every node stays Established and a next hop %v during the outage", want), func() (bool, string) {
		got, err := l.Router.KernelNextHops(hostPrefix(addr))
		if err != nil || !slices.Equal(got, want) {
			return false, fmt.Sprintf("next hops %v (%v)", got, err)
		}
		up, err := l.Router.Established()
		return err == nil && len(up) == len(l.Nodes), fmt.Sprintf("established sessions %v (%v)", up, err)
	})
	if err := restart(); err != nil {
		t.Fatal(err)
	}
	// A restarted API server refuses new Services until its Service CIDR
	// allocator is ready again.
	after := serviceObject("after-outage", false)
	testpoll.Until(t, 60*time.Second, "the restarted API server accepts a new Service", func() (bool, string) {
		err := l.Client.Create(ctx, after)
		return err == nil, fmt.Sprint(err)
	})
	if _, err := l.PlacePods(ctx, after, map[string][]lab.EndpointState{"node-2": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	// Clients back off while the API server is away; they find it again
	// within their longest back-off. So do the lab's kubelet and
	// EndpointSlice controller, which write the new Service's slice.
	start := time.Now()
	addr2 := serviceAddrsWithin(t, l, after, 1, 90*time.Second)[0]
	t.Logf("the controller assigned an address %.1fs after the API server returned", time.Since(start).Seconds())
	waitForNextHopsWithin(t, l, addr2, 90*time.Second, allNodes(l)...)
	t.Logf("every speaker announced it %.1fs after the API server returned", time.Since(start).Seconds())
	waitForNextHops(t, l, addr, allNodes(l)...)
}

func TestPeerNodeSelectorsAndTheExclusionLabelLimitWhoAnnounces(t *testing.T) {
	l := startLab(t, 3)
	ctx := context.Background()
	configure(t, l, v1alpha1.BGPAdvertisementSpec{})
	svc := createService(t, l, "selected", false)
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addr := serviceAddrs(t, l, svc, 1)[0]
	waitForNextHops(t, l, addr, allNodes(l)...)

	// Labelling a node as excluded withdraws its paths; its session stays.
	setNodeLabel(t, l, "node-1", "node.kubernetes.io/exclude-from-external-load-balancers", "true")
	waitForNextHops(t, l, addr, "node-0", "node-2")
	if up, _ := l.Router.Established(); len(up) != 3 {
		t.Errorf("sessions after exclusion: %v, want all three", up)
	}
	setNodeLabel(t, l, "node-1", "node.kubernetes.io/exclude-from-external-load-balancers", "")
	waitForNextHops(t, l, addr, allNodes(l)...)

	// A peer selecting only labelled nodes closes the other sessions.
	setNodeLabel(t, l, "node-2", "rack", "a")
	var peer v1alpha1.BGPPeer
	if err := l.Client.Get(ctx, client.ObjectKey{Name: "router"}, &peer); err != nil {
		t.Fatal(err)
	}
	peer.Spec.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": "a"}}}
	if err := l.Client.Update(ctx, &peer); err != nil {
		t.Fatal(err)
	}
	testpoll.Until(t, 30*time.Second, "only node-2 keeps a session", func() (bool, string) {
		up, err := l.Router.Established()
		return err == nil && slices.Equal(up, nodeAddrs(l, false, "node-2")), fmt.Sprint(up, err)
	})
	waitForNextHops(t, l, addr, "node-2")
}

// setNodeLabel sets a label on a node, or removes it when value is empty.
func setNodeLabel(t *testing.T, l *lab.Lab, node, key, value string) {
	t.Helper()
	var n corev1.Node
	if err := l.Client.Get(context.Background(), client.ObjectKey{Name: node}, &n); err != nil {
		t.Fatal(err)
	}
	if value == "" {
		delete(n.Labels, key)
	} else {
		n.Labels[key] = value
	}
	if err := l.Client.Update(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
}

func TestASpeakerStopWithoutGracefulRestartClosesTheSessionWithACease(t *testing.T) {
	// The router forgets a dynamic neighbour, and how its session ended,
	// once the session is down: with static neighbours.
	l := startLabWith(t, lab.Config{Nodes: 2, Neighbours: lab.StaticNeighbours})
	peer := routerPeer(l)
	peer.Spec.GracefulRestart = &v1alpha1.GracefulRestart{Enabled: ptr.To(false)}
	configurePeer(t, l, v1alpha1.BGPAdvertisementSpec{}, peer)
	ctx := context.Background()
	svc := createService(t, l, "bye", false)
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addr := serviceAddrs(t, l, svc, 1)[0]
	waitForNextHops(t, l, addr, allNodes(l)...)

	stopped := time.Now()
	l.StopSpeaker(l.Nodes[1], syscall.SIGTERM)
	// The router learns at once, not after the 9 s hold time.
	waitForNextHopsWithin(t, l, addr, 5*time.Second, "node-0")
	t.Logf("next hop removed %.2fs after SIGTERM", time.Since(stopped).Seconds())
	frr := l.Router.(*lab.FRR)
	out, err := frr.Vtysh("show bgp neighbors " + l.Nodes[1].Addr4.String() + " json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Cease") {
		t.Errorf("the router's record of the session does not mention a Cease notification:\n%s", out)
	}
}
