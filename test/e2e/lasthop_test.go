package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/testpoll"
	"github.com/bgplb/bgplb/test/lab"
)

// lastHopConns is how many connections each check opens: enough that the
// router's 5-tuple hash sends some to every one of three nodes.
const lastHopConns = 60

// kube-proxy on every node takes each connection from the router to a
// pod, over IPv4 and IPv6 alike: with externalTrafficPolicy Cluster any
// node forwards to a pod on any node and masquerades; with Local only the
// nodes with a ready pod announce, each serves its own and the pod sees
// the client; a pod turning unready changes both what is announced and
// where kube-proxy sends new connections.
func TestKubeProxyTakesEachConnectionToAPod(t *testing.T) {
	l := startLab(t, 3)
	configure(t, l, v1alpha1.BGPAdvertisementSpec{})
	t.Run("cluster policy", func(t *testing.T) { clusterPolicyReachesPodsOnOtherNodes(t, l) })
	t.Run("local policy", func(t *testing.T) { localPolicyKeepsTheClientAndTheNode(t, l) })
}

func clusterPolicyReachesPodsOnOtherNodes(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	svc := createService(t, l, "cluster", false, corev1.IPv4Protocol, corev1.IPv6Protocol)
	// Every pod is on node-0, so whatever reaches node-1 and node-2 must
	// be forwarded there.
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	for _, addr := range serviceAddrs(t, l, svc, 2) {
		waitForNextHops(t, l, addr, allNodes(l)...)
		answers := askUntilAnswered(t, l, addr, lastHopConns)
		if got := receivingNodes(answers); !slices.Equal(got, allNodes(l)) {
			t.Errorf("%s: connections reached nodes %v, want every node", addr, got)
		}
		for _, a := range answers {
			if a.Pod != "default/cluster-node-0-0" || a.PodNode != "node-0" {
				t.Fatalf("%s: served by pod %s on %s, want the only pod, default/cluster-node-0-0 on node-0", addr, a.Pod, a.PodNode)
			}
			// The receiving node masquerades: its address on the way to
			// the pod, the LAN towards another node, its pod gateway
			// towards its own.
			n := labNode(t, l, a.Node)
			want := n.PodGateway(addr.Is6())
			if a.Node != a.PodNode {
				want = nodeAddr(n, addr.Is6())
			}
			if a.Source != want {
				t.Fatalf("%s: the pod saw source %s for a connection through %s, want %s (masqueraded by %s)", addr, a.Source, a.Node, want, a.Node)
			}
		}
	}

	// With a second pod on node-1, kube-proxy spreads connections over
	// both; once that pod is unready, it sends new connections only to
	// the ready one, and every node still announces.
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}, "node-1": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addr := serviceAddrs(t, l, svc, 2)[0]
	pods := []string{"default/cluster-node-0-0", "default/cluster-node-1-0"}
	testpoll.Until(t, 20*time.Second, "kube-proxy sends connections to both pods", func() (bool, string) {
		got := servingPods(askUntilAnswered(t, l, addr, 20))
		return slices.Equal(got, pods), fmt.Sprint(got)
	})
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}, "node-1": {lab.NotReady}}); err != nil {
		t.Fatal(err)
	}
	testpoll.Until(t, 20*time.Second, "kube-proxy sends new connections only to the ready pod", func() (bool, string) {
		got := servingPods(askUntilAnswered(t, l, addr, lastHopConns))
		return slices.Equal(got, pods[:1]), fmt.Sprint(got)
	})
	waitForNextHops(t, l, addr, allNodes(l)...)
}

func localPolicyKeepsTheClientAndTheNode(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	svc := createService(t, l, "local", true, corev1.IPv4Protocol, corev1.IPv6Protocol)
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}, "node-2": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addrs := serviceAddrs(t, l, svc, 2)
	for _, addr := range addrs {
		waitForNextHops(t, l, addr, "node-0", "node-2")
		answers := askUntilAnswered(t, l, addr, lastHopConns)
		if got := servingPods(answers); !slices.Equal(got, []string{"default/local-node-0-0", "default/local-node-2-0"}) {
			t.Errorf("%s: served by pods %v, want one on node-0 and one on node-2", addr, got)
		}
		client := netip.MustParseAddr(lab.ClientAddr)
		if addr.Is6() {
			client = netip.MustParseAddr(lab.ClientV6)
		}
		for _, a := range answers {
			if a.PodNode != a.Node || a.Source != client {
				t.Fatalf("%s: a connection through %s was served on %s and the pod saw source %s, want the same node and the client's %s", addr, a.Node, a.PodNode, a.Source, client)
			}
		}
	}

	// node-2's pod turning unready withdraws node-2, and every new
	// connection goes to node-0's pod.
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}, "node-2": {lab.NotReady}}); err != nil {
		t.Fatal(err)
	}
	for _, addr := range addrs {
		waitForNextHops(t, l, addr, "node-0")
		if got := servingPods(askUntilAnswered(t, l, addr, 20)); !slices.Equal(got, []string{"default/local-node-0-0"}) {
			t.Errorf("%s: after node-2's pod turned unready, served by %v", addr, got)
		}
	}
}

// askUntilAnswered opens n connections to addr, each retried until it is
// answered, and returns the answers.
func askUntilAnswered(t *testing.T, l *lab.Lab, addr netip.Addr, n int) []lab.Answer {
	t.Helper()
	answers := make([]lab.Answer, 0, n)
	for range n {
		var a lab.Answer
		testpoll.Until(t, 10*time.Second, "a connection to "+addr.String()+" is answered", func() (bool, string) {
			var err error
			a, err = l.Ask(context.Background(), addr)
			return err == nil, fmt.Sprint(err)
		})
		answers = append(answers, a)
	}
	return answers
}

// receivingNodes returns the nodes the router sent the connections to,
// sorted.
func receivingNodes(answers []lab.Answer) []string {
	return distinct(answers, func(a lab.Answer) string { return a.Node })
}

// servingPods returns the pods that served the connections, sorted.
func servingPods(answers []lab.Answer) []string {
	return distinct(answers, func(a lab.Answer) string { return a.Pod })
}

func distinct(answers []lab.Answer, field func(lab.Answer) string) []string {
	var out []string
	for _, a := range answers {
		if v := field(a); !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

func labNode(t *testing.T, l *lab.Lab, name string) *lab.Node {
	t.Helper()
	for _, n := range l.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("the lab has no node %q", name)
	return nil
}

func nodeAddr(n *lab.Node, v6 bool) netip.Addr {
	if v6 {
		return n.Addr6
	}
	return n.Addr4
}

// kube-proxy's iptables mode, which many clusters still run, takes the
// same connections to the same pods.
func TestKubeProxyInIptablesModeTakesEachConnectionToAPod(t *testing.T) {
	l := startLabWith(t, lab.Config{Nodes: 3, ProxyMode: lab.ProxyIptables})
	configure(t, l, v1alpha1.BGPAdvertisementSpec{})
	clusterPolicyReachesPodsOnOtherNodes(t, l)
}
