//go:build linux

package datapath

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bgplb/bgplb/internal/director"
	"github.com/bgplb/bgplb/internal/director/directortest"
	"github.com/bgplb/bgplb/internal/owner"
)

// openNode opens a node's datapath in a fresh namespace whose uplink is a
// veth holding the tunnel address (this kernel has no dummy devices),
// with a pin directory on a bpf filesystem of the test's own.
func openNode(t *testing.T) (*Node, string) {
	t.Helper()
	ns := newNodeNetns(t)
	return openNodeIn(t, ns, nodeOptions(t)), ns
}

// newNodeNetns makes a namespace whose uplink up0 holds 10.98.0.1.
func newNodeNetns(t *testing.T) string {
	t.Helper()
	ns := newNetns(t, "node")
	inNetnsCommand(t, ns, "ip", "link", "add", "up0", "type", "veth", "peer", "name", "up0p")
	inNetnsCommand(t, ns, "ip", "addr", "add", "10.98.0.1/24", "dev", "up0")
	inNetnsCommand(t, ns, "ip", "link", "set", "up0", "up")
	return ns
}

// nodeOptions are the options of a node in a namespace of newNodeNetns.
func nodeOptions(t *testing.T) Options {
	t.Helper()
	return Options{TunnelAddress: netip.MustParseAddr("10.98.0.1"), PinDir: filepath.Join(bpffsDir(t), "node")}
}

// openNodeIn opens a node's datapath in namespace ns, and closes it when
// the test ends unless the test closed or left it.
func openNodeIn(t *testing.T, ns string, opts Options) *Node {
	t.Helper()
	var n *Node
	inNetns(t, ns, func() {
		var err error
		if n, err = Open(opts); err != nil {
			t.Fatalf("Open: %v", err)
		}
	})
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return n
}

func TestNodeConforms(t *testing.T) {
	directortest.Run(t, func(t *testing.T) director.Datapath {
		n, _ := openNode(t)
		return n
	})
}

func TestOpenFindsNoUplinkWithoutTheTunnelAddress(t *testing.T) {
	ns := newNetns(t, "node")
	opts := nodeOptions(t)
	inNetns(t, ns, func() {
		_, err := Open(opts)
		if want := "no interface holds the tunnel address 10.98.0.1"; err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Open on a node without the tunnel address: error %v, want one containing %q", err, want)
		}
	})
}

// directedPlan is the plan of one Service address served by nodes a, b
// and c, node b in state b.
func directedPlan(t *testing.T, service netip.Addr, b director.Role) director.Plan {
	t.Helper()
	var nodes []director.Node
	for i, name := range []string{"a", "b", "c"} {
		role := director.Serving
		if name == "b" {
			role = b
		}
		nodes = append(nodes, director.Node{Name: name, Ready: true, TunnelAddress: netip.AddrFrom4([4]byte{10, 98, 0, byte(i + 1)}),
			Roles: map[string]director.Role{"ns/web": role}})
	}
	plan, err := director.Build(nodes, []director.Service{{Key: "ns/web", Addrs: []netip.Addr{service}}}, owner.DefaultSize)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// Node a forwards by the tables Apply loads: every packet of a flow a is
// not the primary of goes to the primary (hop 1), and an unknown packet
// of a flow it owns goes to the bucket's secondary (hop 2), whichever
// plan was applied last; an address the plan drops is left alone.
func TestNodeForwardsByTheAppliedPlan(t *testing.T) {
	n, ns := openNode(t)
	rng := rand.New(rand.NewPCG(7, 19))
	for _, b := range []director.Role{director.Serving, director.Draining, director.NotServing} {
		plan := directedPlan(t, serviceV4, b)
		if err := n.Apply(context.Background(), director.ApplyRequest{Plan: plan, Self: "a"}); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		table := plan.Tables[plan.Addresses[serviceV4]]
		before, err := n.Counters(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		wantHop1, wantHop2 := map[string]uint64{}, map[string]uint64{}
		inNetns(t, ns, func() {
			for range 200 {
				client := netip.AddrPortFrom(clientV4, uint16(1024+rng.IntN(60000)))
				primary, secondary := table.Owner(int(Bucket(Tuple{Source: client.Addr(), Destination: serviceV4, SourcePort: client.Port(),
					DestinationPort: 80, Protocol: 6}, owner.DefaultSize)))
				if primary == "a" {
					wantHop2[secondary]++
				} else {
					wantHop1[primary]++
				}
				frame := ethernet(tcpPacket(client, netip.AddrPortFrom(serviceV4, 80), flagACK))
				requireTunnelledWith(t, DefaultTunnelDevice().MAC, frame, runUplink(t, n.datapath, frame))
			}
		})
		after, err := n.Counters(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, node := range []string{"b", "c"} {
			if got := after.Forwarded[node] - before.Forwarded[node]; got != wantHop1[node] {
				t.Errorf("b %v: %d packets sent to %s at hop 1, want %d", b, got, node, wantHop1[node])
			}
			if got := after.SecondChances[node] - before.SecondChances[node]; got != wantHop2[node] {
				t.Errorf("b %v: %d packets sent to %s at hop 2, want %d", b, got, node, wantHop2[node])
			}
		}
		if b == director.Draining && wantHop1["b"] != 0 {
			t.Errorf("a draining node was sent %d new packets at hop 1", wantHop1["b"])
		}
	}
	if err := n.Apply(context.Background(), director.ApplyRequest{Self: "a"}); err != nil {
		t.Fatalf("Apply an empty plan: %v", err)
	}
	inNetns(t, ns, func() {
		frame := ethernet(tcpPacket(netip.AddrPortFrom(clientV4, 4242), netip.AddrPortFrom(serviceV4, 80), flagACK))
		requireUntouched(t, frame, runUplink(t, n.datapath, frame))
	})
}
