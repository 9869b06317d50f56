package director

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	"github.com/bgplb/bgplb/internal/owner"
)

const testSize = 4093

func node(name string, roles map[string]Role) Node {
	return Node{Name: name, Ready: true, TunnelAddress: netip.MustParseAddr("192.0.2." + name[len(name)-1:]), Roles: roles}
}

func mustBuild(t *testing.T, nodes []Node, services []Service) Plan {
	t.Helper()
	plan, err := Build(nodes, services, testSize)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return plan
}

func TestServicesWithTheSameNodesShareOneTable(t *testing.T) {
	t.Parallel()
	both := map[string]Role{"ns/a": Serving, "ns/b": Serving}
	plan := mustBuild(t, []Node{node("node-1", both), node("node-2", both), node("node-3", map[string]Role{"ns/b": Serving})},
		[]Service{{Key: "ns/a", Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.1")}},
			{Key: "ns/b", Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("2001:db8::2")}}})
	if len(plan.Tables) != 2 {
		t.Fatalf("got %d tables, want 2 (one per node set): %v", len(plan.Tables), plan.Addresses)
	}
	a, b, b6 := plan.Addresses[netip.MustParseAddr("198.51.100.1")], plan.Addresses[netip.MustParseAddr("198.51.100.2")], plan.Addresses[netip.MustParseAddr("2001:db8::2")]
	if a == b || b != b6 {
		t.Errorf("table keys: a %q, b %q, b (IPv6) %q; want a different from b, and both families of b alike", a, b, b6)
	}
	if got := plan.Tables[b].Nodes; !reflect.DeepEqual(got, []string{"node-1", "node-2", "node-3"}) {
		t.Errorf("nodes of b's table: %v", got)
	}
}

func TestDrainingNodeIsKeptAsASecondOwnerOnly(t *testing.T) {
	t.Parallel()
	svc := []Service{{Key: "ns/a", Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.1")}}}
	plan := mustBuild(t, []Node{node("node-1", map[string]Role{"ns/a": Serving}), node("node-2", map[string]Role{"ns/a": Draining})}, svc)
	table := plan.Tables[plan.Addresses[netip.MustParseAddr("198.51.100.1")]]
	seconds := 0
	for b := range table.Buckets {
		primary, secondary := table.Owner(b)
		if primary != "node-1" {
			t.Fatalf("bucket %d: primary %q, want node-1, the only serving node", b, primary)
		}
		if secondary == "node-2" {
			seconds++
		}
	}
	if seconds == 0 {
		t.Errorf("the draining node is the secondary of no bucket; it must keep those it owned")
	}
}

func TestNodesThatCannotForwardOwnNothing(t *testing.T) {
	t.Parallel()
	roles := map[string]Role{"ns/a": Serving}
	notReady := node("node-2", roles)
	notReady.Ready = false
	noTunnel := node("node-3", roles)
	noTunnel.TunnelAddress = netip.Addr{}
	plan := mustBuild(t, []Node{node("node-1", roles), notReady, noTunnel}, []Service{{Key: "ns/a", Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.1")}}})
	table := plan.Tables[plan.Addresses[netip.MustParseAddr("198.51.100.1")]]
	if !reflect.DeepEqual(table.Nodes, []string{"node-1"}) {
		t.Errorf("table nodes %v, want only node-1", table.Nodes)
	}
	if _, ok := plan.Tunnels["node-2"]; ok {
		t.Errorf("tunnel of a node in no table: %v", plan.Tunnels)
	}
}

func TestAddressServedByNobodyHasNoTable(t *testing.T) {
	t.Parallel()
	plan := mustBuild(t, []Node{node("node-1", map[string]Role{"ns/other": Serving})}, []Service{{Key: "ns/a", Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.1")}}})
	if len(plan.Addresses) != 0 || len(plan.Tables) != 0 {
		t.Errorf("plan for an address nobody serves: %+v", plan.Addresses)
	}
}

func TestSharedAddressIsServedByTheNodesOfEitherService(t *testing.T) {
	t.Parallel()
	shared := netip.MustParseAddr("198.51.100.7")
	plan := mustBuild(t, []Node{node("node-1", map[string]Role{"ns/tcp": Serving}), node("node-2", map[string]Role{"ns/udp": Serving, "ns/tcp": Draining})},
		[]Service{{Key: "ns/tcp", Addrs: []netip.Addr{shared}}, {Key: "ns/udp", Addrs: []netip.Addr{shared}}})
	want := owner.Key([]owner.Member{{Node: "node-1"}, {Node: "node-2"}})
	if got := plan.Addresses[shared]; got != want {
		t.Errorf("shared address table %q, want %q (both nodes serving)", got, want)
	}
}

func TestPlanDoesNotDependOnInputOrder(t *testing.T) {
	t.Parallel()
	var nodes []Node
	var services []Service
	for i := range 6 {
		roles := map[string]Role{}
		for s := range 5 {
			roles["ns/s"+string(rune('a'+s))] = Role((i + s) % 3)
		}
		nodes = append(nodes, node("node-"+string(rune('1'+i)), roles))
	}
	for s := range 5 {
		services = append(services, Service{Key: "ns/s" + string(rune('a'+s)), Addrs: []netip.Addr{netip.AddrFrom4([4]byte{198, 51, 100, byte(s)})}})
	}
	want := mustBuild(t, nodes, services)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		rng.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
		rng.Shuffle(len(services), func(i, j int) { services[i], services[j] = services[j], services[i] })
		if got := mustBuild(t, nodes, services); !reflect.DeepEqual(got, want) {
			t.Fatalf("plan changed with the order of its inputs")
		}
	}
}

func TestTheDigestTellsPlansApart(t *testing.T) {
	t.Parallel()
	svc := []Service{{Key: "ns/a", Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.1")}}}
	serving := map[string]Role{"ns/a": Serving}
	two := mustBuild(t, []Node{node("node-1", serving), node("node-2", serving)}, svc)
	twoAgain := mustBuild(t, []Node{node("node-2", serving), node("node-1", serving)}, svc)
	draining := mustBuild(t, []Node{node("node-1", serving), node("node-2", map[string]Role{"ns/a": Draining})}, svc)
	moved := node("node-2", serving)
	moved.TunnelAddress = netip.MustParseAddr("192.0.2.99")
	otherTunnel := mustBuild(t, []Node{node("node-1", serving), moved}, svc)
	if two.Digest() != twoAgain.Digest() {
		t.Errorf("the same plan has two digests")
	}
	for name, other := range map[string]Plan{"a node draining": draining, "a tunnel address": otherTunnel, "no address": {}} {
		if other.Digest() == two.Digest() {
			t.Errorf("plans that differ by %s have one digest %s", name, two.Digest())
		}
	}
	if len(two.Digest()) != 16 {
		t.Errorf("digest %q, want 16 hex digits", two.Digest())
	}
}
