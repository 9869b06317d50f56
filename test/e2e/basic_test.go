package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
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

// configure applies a pool, the router as peer and an advertisement, and
// waits until every node's session is Established.
func configure(t *testing.T, l *lab.Lab, adv v1alpha1.BGPAdvertisementSpec) {
	t.Helper()
	configurePeer(t, l, adv, routerPeer(l))
	testpoll.Until(t, 60*time.Second, "every node's session is Established at the router", func() (bool, string) {
		up, err := l.Router.Established()
		return err == nil && len(up) == len(l.Nodes), fmt.Sprint(up, err)
	})
}

// routerPeer is the BGPPeer for the lab's router.
func routerPeer(l *lab.Lab) *v1alpha1.BGPPeer {
	return &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router"}, Spec: v1alpha1.BGPPeerSpec{
		MyASN: l.NodeASN(), PeerASN: lab.RouterASN, PeerAddress: lab.RouterLAN4,
		HoldTime: &metav1.Duration{Duration: 9 * time.Second}, KeepaliveTime: &metav1.Duration{Duration: 3 * time.Second},
		ConnectTime: &metav1.Duration{Duration: time.Second}}}
}

func configurePeer(t *testing.T, l *lab.Lab, adv v1alpha1.BGPAdvertisementSpec, peer *v1alpha1.BGPPeer) {
	t.Helper()
	objs := []client.Object{
		&v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "lab"}, Spec: v1alpha1.IPPoolSpec{
			Addresses: []v1alpha1.AddressRange{"203.0.113.0/24", "2001:db8:100::/64"}}},
		peer,
		&v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "lab"}, Spec: adv},
	}
	for _, o := range objs {
		if err := l.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T: %v", o, err)
		}
	}
}

func createService(t *testing.T, l *lab.Lab, name string, local bool, families ...corev1.IPFamily) *corev1.Service {
	t.Helper()
	svc := serviceObject(name, local, families...)
	if err := l.Client.Create(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	return svc
}

// serviceObject is a LoadBalancer Service on the responder port.
func serviceObject(name string, local bool, families ...corev1.IPFamily) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: lab.ResponderPort, Protocol: corev1.ProtocolTCP}},
		},
	}
	if local {
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	if len(families) > 1 {
		svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
		svc.Spec.IPFamilies = families
	}
	return svc
}

// serviceAddrs waits until the Service has n addresses.
func serviceAddrs(t *testing.T, l *lab.Lab, svc *corev1.Service, n int) []netip.Addr {
	t.Helper()
	return serviceAddrsWithin(t, l, svc, n, 20*time.Second)
}

func serviceAddrsWithin(t *testing.T, l *lab.Lab, svc *corev1.Service, n int, timeout time.Duration) []netip.Addr {
	t.Helper()
	var addrs []netip.Addr
	testpoll.Until(t, timeout, "the Service gets its addresses", func() (bool, string) {
		var s corev1.Service
		if err := l.Client.Get(context.Background(), client.ObjectKeyFromObject(svc), &s); err != nil {
			return false, err.Error()
		}
		addrs = nil
		for _, in := range s.Status.LoadBalancer.Ingress {
			addrs = append(addrs, netip.MustParseAddr(in.IP))
		}
		return len(addrs) == n, fmt.Sprint(addrs)
	})
	return addrs
}

func hostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// nodeAddrs returns the addresses of the named nodes in one family, sorted.
func nodeAddrs(l *lab.Lab, v6 bool, names ...string) []string {
	var out []string
	for _, n := range l.Nodes {
		if slices.Contains(names, n.Name) {
			if v6 {
				out = append(out, n.Addr6.String())
			} else {
				out = append(out, n.Addr4.String())
			}
		}
	}
	slices.Sort(out)
	return out
}

func allNodes(l *lab.Lab) []string {
	var out []string
	for _, n := range l.Nodes {
		out = append(out, n.Name)
	}
	return out
}

// waitForNextHops waits until the router's kernel route for the address
// has exactly the given nodes as next hops (none: no route).
func waitForNextHops(t *testing.T, l *lab.Lab, addr netip.Addr, nodes ...string) {
	t.Helper()
	waitForNextHopsWithin(t, l, addr, 20*time.Second, nodes...)
}

func waitForNextHopsWithin(t *testing.T, l *lab.Lab, addr netip.Addr, timeout time.Duration, nodes ...string) {
	t.Helper()
	want := nodeAddrs(l, addr.Is6(), nodes...)
	testpoll.Until(t, timeout, fmt.Sprintf("kernel next hops of %s are %v", addr, want), func() (bool, string) {
		got, err := l.Router.KernelNextHops(hostPrefix(addr))
		return err == nil && slices.Equal(got, want), fmt.Sprint(got, err)
	})
}

// The main scenario runs against the router knowing the nodes both ways
// users configure it: one neighbour per node, and a listen range.
func TestClusterServiceIsLoadBalancedAcrossEveryNode(t *testing.T) {
	for _, neighbours := range []string{lab.StaticNeighbours, lab.DynamicNeighbours} {
		t.Run(neighbours+" neighbours", func(t *testing.T) {
			clusterServiceIsLoadBalancedAcrossEveryNode(t, startLabWith(t, lab.Config{Nodes: 3, Neighbours: neighbours}))
		})
	}
}

func clusterServiceIsLoadBalancedAcrossEveryNode(t *testing.T, l *lab.Lab) {
	configure(t, l, v1alpha1.BGPAdvertisementSpec{Communities: []v1alpha1.Community{"64512:100"}})
	ctx := context.Background()
	svc := createService(t, l, "web", false)
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addr := serviceAddrs(t, l, svc, 1)[0]

	assertLoadBalancedAcrossEveryNode(t, l, addr)
	assertTheRouterNamesEveryNode(t, l)

	if err := l.Client.Delete(ctx, svc); err != nil {
		t.Fatal(err)
	}
	waitForNextHops(t, l, addr)
	testpoll.Until(t, 20*time.Second, "the prefix leaves the router's BGP table", func() (bool, string) {
		paths, err := l.Router.BGPPaths(hostPrefix(addr))
		return err == nil && len(paths) == 0, fmt.Sprint(paths, err)
	})
}

func TestLocalServiceIsAnnouncedOnlyFromNodesWithEndpoints(t *testing.T) {
	forEachRouter(t, func(t *testing.T, router string) {
		localServiceIsAnnouncedOnlyFromNodesWithEndpoints(t, startLabWith(t, lab.Config{Nodes: 3, Router: router}))
	})
}

func localServiceIsAnnouncedOnlyFromNodesWithEndpoints(t *testing.T, l *lab.Lab) {
	configure(t, l, v1alpha1.BGPAdvertisementSpec{})
	ctx := context.Background()
	svc := createService(t, l, "local", true)
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}, "node-2": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addr := serviceAddrs(t, l, svc, 1)[0]
	waitForNextHops(t, l, addr, "node-0", "node-2")

	// Moving an endpoint moves the next hop.
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-1": {lab.Ready}, "node-2": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	waitForNextHops(t, l, addr, "node-1", "node-2")

	// The last endpoint going away withdraws the prefix.
	if err := l.SetEndpoints(ctx, svc, nil); err != nil {
		t.Fatal(err)
	}
	waitForNextHops(t, l, addr)
}

func TestDualStackServiceIsReachableOverIPv6(t *testing.T) {
	l := startLab(t, 3)
	configure(t, l, v1alpha1.BGPAdvertisementSpec{})
	ctx := context.Background()
	svc := createService(t, l, "dual", false, corev1.IPv4Protocol, corev1.IPv6Protocol)
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-1": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addrs := serviceAddrs(t, l, svc, 2)
	v6 := addrs[1]
	if !v6.Is6() {
		t.Fatalf("second address %s is not IPv6", v6)
	}
	waitForNextHops(t, l, addrs[0], allNodes(l)...)
	waitForNextHops(t, l, v6, allNodes(l)...)
	served := servedBy(t, l, v6, 30)
	if len(served) < 2 {
		t.Errorf("IPv6 connections reached only %v", served)
	}
}

// assertLoadBalancedAcrossEveryNode checks that the router has a multipath
// path from every node carrying community 64512:100, a kernel route with
// every node as next hop, and that 300 connections from the client land on
// every node (each between 20% and 47%).
func assertLoadBalancedAcrossEveryNode(t *testing.T, l *lab.Lab, addr netip.Addr) {
	t.Helper()
	testpoll.Until(t, 20*time.Second, "the router's BGP table has a multipath path from every node", func() (bool, string) {
		paths, err := l.Router.BGPPaths(hostPrefix(addr))
		var hops []string
		for _, p := range paths {
			if p.Multipath && strings.Contains(p.Communities, "64512:100") {
				hops = append(hops, p.NextHop)
			}
		}
		slices.Sort(hops)
		return slices.Equal(hops, nodeAddrs(l, false, allNodes(l)...)), fmt.Sprint(paths, err)
	})
	waitForNextHops(t, l, addr, allNodes(l)...)

	served := servedBy(t, l, addr, 300)
	t.Logf("connections served: %v", served)
	for _, n := range allNodes(l) {
		share := float64(served[n]) / 300
		if share < 0.20 || share > 0.47 {
			t.Errorf("%s served %.0f%% of connections, want 20-47%%", n, share*100)
		}
	}
}

// servedBy opens n connections to addr, one after the other, and counts
// the nodes that answered.
func servedBy(t *testing.T, l *lab.Lab, addr netip.Addr, n int) map[string]int {
	t.Helper()
	served := map[string]int{}
	for i := range n {
		node, err := l.WhoServes(context.Background(), addr)
		if err != nil {
			t.Fatalf("connection %d to %s: %v", i, addr, err)
		}
		served[node]++
	}
	return served
}

// assertTheRouterNamesEveryNode checks that FRR shows each node's session
// under the node's own name, as on a real cluster where each node has its
// host name, and that vtysh answers a person without warnings.
func assertTheRouterNamesEveryNode(t *testing.T, l *lab.Lab) {
	t.Helper()
	frr := l.Router.(*lab.FRR)
	sessions, err := frr.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes {
		if got := sessions[n.Addr4.String()].Hostname; got != n.Name {
			t.Errorf("the router names the session from %s %q, want %q", n.Addr4, got, n.Name)
		}
	}
	var stderr strings.Builder
	cmd := exec.Command("ip", "netns", "exec", frr.NS, "vtysh", "-N", frr.NS, "-c", "show bgp summary")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() != 0 {
		t.Errorf("vtysh -N %s: %v, and on stderr: %q", frr.NS, err, stderr.String())
	}
}
