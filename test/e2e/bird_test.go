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

// TestClusterServiceAgainstBIRD runs the basic scenario through a BIRD 2
// router instead of FRR: an IPv4 Service load-balanced across every node by
// the router's kernel ECMP, and a dual-stack Service whose IPv6 address
// (announced over the IPv4 session) is reachable over IPv6.
func TestClusterServiceAgainstBIRD(t *testing.T) {
	l := startLabWith(t, lab.Config{Nodes: 3, Router: "bird"})
	configure(t, l, v1alpha1.BGPAdvertisementSpec{Communities: []v1alpha1.Community{"64512:100"}})
	ctx := context.Background()
	svc := createService(t, l, "web", false)
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addr := serviceAddrs(t, l, svc, 1)[0]

	assertLoadBalancedAcrossEveryNode(t, l, addr)

	// A dual-stack Service: its IPv6 address arrives over the IPv4 sessions
	// with each node's IPv6 address as next hop.
	dual := createService(t, l, "dual", false, corev1.IPv4Protocol, corev1.IPv6Protocol)
	if err := l.SetEndpoints(ctx, dual, map[string][]lab.EndpointState{"node-1": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addrs := serviceAddrs(t, l, dual, 2)
	v6 := addrs[1]
	if !v6.Is6() {
		t.Fatalf("second address %s is not IPv6", v6)
	}
	testpoll.Until(t, 20*time.Second, "BIRD's table has three IPv6 multipath paths", func() (bool, string) {
		paths, err := l.Router.BGPPaths(hostPrefix(v6))
		var hops []string
		for _, p := range paths {
			if p.Multipath {
				hops = append(hops, p.NextHop)
			}
		}
		slices.Sort(hops)
		return slices.Equal(hops, nodeAddrs(l, true, allNodes(l)...)), fmt.Sprint(paths, err)
	})
	waitForNextHops(t, l, addrs[0], allNodes(l)...)
	waitForNextHops(t, l, v6, allNodes(l)...)
	served6 := servedBy(t, l, v6, 30)
	t.Logf("IPv6 connections served: %v", served6)
	if len(served6) < 2 {
		t.Errorf("IPv6 connections reached only %v", served6)
	}

	// Deleting the Services withdraws their routes.
	for _, s := range []*corev1.Service{svc, dual} {
		if err := l.Client.Delete(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []netip.Addr{addr, addrs[0], v6} {
		waitForNextHops(t, l, a)
		testpoll.Until(t, 20*time.Second, fmt.Sprintf("%s leaves BIRD's table", a), func() (bool, string) {
			paths, err := l.Router.BGPPaths(hostPrefix(a))
			return err == nil && len(paths) == 0, fmt.Sprint(paths, err)
		})
	}
}
