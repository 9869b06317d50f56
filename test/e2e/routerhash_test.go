package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/test/lab"
)

// hashPorts are the client source ports the router hashing test sends
// from, outside the client's ephemeral range so no other connection takes
// them. With twelve ports, a router that hashes the 5-tuple over three
// next hops sends them all to one node once in about 180,000 runs.
var hashPorts = func() []uint16 {
	var ports []uint16
	for p := uint16(20001); p <= 20012; p++ {
		ports = append(ports, p)
	}
	return ports
}()

// hashRepeats is how many fresh connections each source port opens. A
// router that spread them at random over three next hops would send all
// of them to one node once in about 20,000 tries per port.
const hashRepeats = 10

// The lab router spreads connections by their headers, as a hardware
// router does with the 5-tuple policy: fresh connections from one client
// source port to a Service that three nodes announce always reach the same
// node, over IPv4 and IPv6, and different source ports reach more than one
// node. Each connection is a new socket with a random hash of its own, so
// a router that forwards by the hash the packet brings along (as Linux
// does when a veth hands it the client socket's packets) fails this.
func TestFreshConnectionsFromOneSourcePortReachTheSameNode(t *testing.T) {
	l := startLab(t, 3)
	configure(t, l, v1alpha1.BGPAdvertisementSpec{})
	ctx := context.Background()
	svc := createService(t, l, "hash", false, corev1.IPv4Protocol, corev1.IPv6Protocol)
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	for _, addr := range serviceAddrs(t, l, svc, 2) {
		waitForNextHops(t, l, addr, allNodes(l)...)
		byPort := map[uint16]string{}
		for _, port := range hashPorts {
			served := map[string]int{}
			for i := range hashRepeats {
				node, err := whoServesFrom(ctx, l, port, addr)
				if err != nil {
					t.Fatalf("connection %d from port %d to %s: %v", i, port, addr, err)
				}
				served[node]++
			}
			if len(served) != 1 {
				t.Errorf("%d connections from port %d to %s reached %v; a router hashing the 5-tuple sends them all to one node", hashRepeats, port, addr, served)
				continue
			}
			byPort[port] = slices.Collect(maps.Keys(served))[0]
		}
		if len(byPort) < len(hashPorts) {
			continue
		}
		nodes := map[string]int{}
		for _, n := range byPort {
			nodes[n]++
		}
		t.Logf("%s: source ports per node %v", addr, nodes)
		if len(nodes) < 2 {
			t.Errorf("%d source ports to %s all reached %v; the router does not spread by source port", len(hashPorts), addr, nodes)
		}
	}
}

// whoServesFrom opens one connection from the client's source port to
// addr, reads the name of the node that answered and closes it with a
// reset, so the port is free again at once.
func whoServesFrom(ctx context.Context, l *lab.Lab, port uint16, addr netip.Addr) (string, error) {
	c, err := l.DialFrom(ctx, port, netip.AddrPortFrom(addr, lab.ResponderPort))
	if err != nil {
		return "", err
	}
	defer func() {
		_ = c.SetLinger(0)
		_ = c.Close()
	}()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	k, err := c.Read(buf)
	if err != nil {
		return "", fmt.Errorf("read: %w", err)
	}
	return strings.TrimSpace(string(buf[:k])), nil
}
