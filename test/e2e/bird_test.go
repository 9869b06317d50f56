package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/testpoll"
	"github.com/bgplb/bgplb/test/lab"
)

// TestClusterServiceAgainstBIRD runs the basic scenario through a BIRD 2
// router instead of FRR, configured with a protocol per node (static) and
// with one neighbor range (dynamic, as users most often configure it).
func TestClusterServiceAgainstBIRD(t *testing.T) {
	for _, neighbours := range []string{lab.StaticNeighbours, lab.DynamicNeighbours} {
		t.Run(neighbours, func(t *testing.T) {
			l := startLabWith(t, lab.Config{Nodes: 3, Router: "bird", Neighbours: neighbours})
			bird := l.Router.(*lab.BIRD)
			if neighbours == lab.DynamicNeighbours {
				assertBIRDHasOnlyARange(t, bird)
			}
			clusterServiceScenario(t, l)
			if neighbours == lab.DynamicNeighbours {
				assertBIRDSessionsAreSpawned(t, l, bird)
			}
		})
	}
}

// assertBIRDHasOnlyARange checks, before any node peers, that BIRD knows
// the nodes by the LAN's range only: its one BGP protocol has a neighbor
// range and no neighbour address.
func assertBIRDHasOnlyARange(t *testing.T, bird *lab.BIRD) {
	t.Helper()
	protocols, err := bird.Protocols()
	if err != nil {
		t.Fatal(err)
	}
	var bgp []lab.BIRDProtocol
	for _, p := range protocols {
		if p.Proto == "BGP" {
			bgp = append(bgp, p)
		}
	}
	if len(bgp) != 1 || bgp[0].Range != "198.18.0.0/24" || bgp[0].Neighbour != "" {
		t.Fatalf("before the nodes peer, BIRD's BGP protocols are %+v; want one, with neighbor range 198.18.0.0/24", bgp)
	}
}

// assertBIRDSessionsAreSpawned checks that every node's session is a
// protocol that BIRD spawned from the range protocol, not one configured
// for the node.
func assertBIRDSessionsAreSpawned(t *testing.T, l *lab.Lab, bird *lab.BIRD) {
	t.Helper()
	protocols, err := bird.Protocols()
	if err != nil {
		t.Fatal(err)
	}
	var peers []string
	for _, p := range protocols {
		if p.Proto == "BGP" && p.Info == "Established" {
			if !strings.HasPrefix(p.Name, "peer") {
				t.Errorf("BIRD protocol %s (neighbour %s) is not one spawned for a dynamic neighbour", p.Name, p.Neighbour)
			}
			peers = append(peers, p.Neighbour)
		}
	}
	slices.Sort(peers)
	if want := nodeAddrs(l, false, allNodes(l)...); !slices.Equal(peers, want) {
		t.Errorf("BIRD's established protocols have neighbours %v, want %v", peers, want)
	}
}

// clusterServiceScenario is the basic scenario for a router other than
// the default one: an IPv4 Service load-balanced across every node by the
// router's kernel ECMP, a dual-stack Service whose IPv6 address (announced
// over the IPv4 sessions) is reachable over IPv6, and the routes' removal
// when the Services go.
func clusterServiceScenario(t *testing.T, l *lab.Lab) {
	t.Helper()
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
	testpoll.Until(t, 20*time.Second, "the router's table has three IPv6 multipath paths", func() (bool, string) {
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
		testpoll.Until(t, 20*time.Second, fmt.Sprintf("%s leaves the router's table", a), func() (bool, string) {
			paths, err := l.Router.BGPPaths(hostPrefix(a))
			return err == nil && len(paths) == 0, fmt.Sprint(paths, err)
		})
	}
}
