package main

// What the director costs: latency, connection rate, bulk throughput and
// CPU, with the director off and on, in one lab.

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/datapath"
	"github.com/bgplb/bgplb/internal/owner"
	"github.com/bgplb/bgplb/internal/poll"
	"github.com/bgplb/bgplb/test/lab"
)

// costConfig is the size of the cost section.
type costConfig struct {
	// conns is the number of connections of each latency and each
	// connection-rate measurement; the CPU load is 20 echo round trips
	// per connection.
	conns int
	// rounds is how many times the director is measured off and on.
	rounds int
	// bulkMiB is the size of the bulk stream.
	bulkMiB int
}

// costPool is the pool whose director the section turns off and on.
const costPool = "cost"

// portsPerSet is how many client source ports each flow set has; every
// connection of a set uses one of them, so each set's connections hash to
// the same owners in every round, director on or off.
const portsPerSet = 32

// firstCostPort is the first source port tried: below the client's
// ephemeral range, so no other connection holds one.
const firstCostPort = 20000

// flowSet is a set of client source ports whose flows the director's
// tables give to node-0 (the node the router sends everything to), or to
// the other nodes.
type flowSet struct {
	name  string
	ports []uint16
	// owner is each port's flow owner when the director is on.
	owner map[uint16]string
}

// costBench is the lab of the cost section with its Service and the two
// flow sets: local (owned by node-0) and forwarded (owned elsewhere).
type costBench struct {
	lab              *lab.Lab
	addr             netip.Addr
	local, forwarded flowSet
	// on is the director's state.
	on bool
}

// costReport measures the director's cost in a lab of its own and prints
// the figures.
func costReport(binDir string, cfg costConfig) error {
	ctx := context.Background()
	l, err := lab.Start(ctx, lab.Config{Nodes: 3, BinDir: binDir, Director: true})
	if err != nil {
		return err
	}
	defer l.Close()
	b, err := startCostBench(ctx, l)
	if err != nil {
		return err
	}
	// The kernel's run-time statistics of BPF programs stay on for the
	// whole section, director off and on alike.
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return fmt.Errorf("turn on BPF run-time statistics: %w", err)
	}
	defer stats.Close()
	printCostIntro(b, cfg)
	var rounds []costRound
	for r := range cfg.rounds {
		// Which state goes first alternates, so a drift of the machine's
		// load over a round favours neither.
		order := []bool{false, true}
		if r%2 == 1 {
			order = []bool{true, false}
		}
		var round costRound
		for _, on := range order {
			if err := b.setDirector(ctx, on); err != nil {
				return fmt.Errorf("round %d: %w", r+1, err)
			}
			figures, err := b.measure(ctx, cfg)
			if err != nil {
				return fmt.Errorf("round %d, director %s: %w", r+1, onOff(on), err)
			}
			round[boolIndex(on)] = figures
		}
		rounds = append(rounds, round)
	}
	printCostFigures(rounds)
	return nil
}

// startCostBench creates the configuration, a Local Service with a pod on
// every node, pins the router's route for its address to node-0, and
// picks the flow sets.
func startCostBench(ctx context.Context, l *lab.Lab) (*costBench, error) {
	if err := createCostConfig(ctx, l); err != nil {
		return nil, err
	}
	svc := service("cost")
	svc.Spec.AllocateLoadBalancerNodePorts = nil
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	if err := l.Client.Create(ctx, svc); err != nil {
		return nil, err
	}
	endpoints := map[string][]lab.EndpointState{}
	for _, n := range l.Nodes {
		endpoints[n.Name] = []lab.EndpointState{lab.Ready}
	}
	if err := l.SetEndpoints(ctx, svc, endpoints); err != nil {
		return nil, err
	}
	addr, err := serviceAddr(ctx, l, svc)
	if err != nil {
		return nil, err
	}
	if err := untilHops(l, addr, len(l.Nodes), 60*time.Second); err != nil {
		return nil, err
	}
	if _, err := l.PinRoute(netip.PrefixFrom(addr, addr.BitLen()), l.Nodes[0]); err != nil {
		return nil, err
	}
	b := &costBench{lab: l, addr: addr}
	b.local, b.forwarded, err = pickFlowSets(l, addr)
	return b, err
}

// createCostConfig creates the pool (director off), an advertisement
// for every node and the router's peer.
func createCostConfig(ctx context.Context, l *lab.Lab) error {
	objs := []client.Object{
		&v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: costPool}, Spec: v1alpha1.IPPoolSpec{Addresses: []v1alpha1.AddressRange{"203.0.113.0/24"}}},
		&v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "cost"}},
		&v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router"}, Spec: v1alpha1.BGPPeerSpec{
			MyASN: lab.NodeASN, PeerASN: lab.RouterASN, PeerAddress: lab.RouterLAN4,
			HoldTime: &metav1.Duration{Duration: 9 * time.Second}, ConnectTime: &metav1.Duration{Duration: time.Second}}},
	}
	for _, o := range objs {
		if err := l.Client.Create(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// pickFlowSets chooses the client source ports of the two flow sets by
// the table every node derives when all of them serve the address and are
// Active, and the bucket the kernel program hashes each flow to. The
// measurement checks the choice: it starts only once every port's
// connections are served where the table says (see untilServedAsPlanned).
func pickFlowSets(l *lab.Lab, addr netip.Addr) (local, forwarded flowSet, err error) {
	members := make([]owner.Member, len(l.Nodes))
	for i, n := range l.Nodes {
		members[i] = owner.Member{Node: n.Name, State: owner.Active}
	}
	table, err := owner.Build(members, owner.DefaultSize)
	if err != nil {
		return local, forwarded, err
	}
	local = flowSet{name: "owned by " + l.Nodes[0].Name, owner: map[uint16]string{}}
	forwarded = flowSet{name: "owned by another node", owner: map[uint16]string{}}
	client := netip.MustParseAddr(lab.ClientAddr)
	for port := uint16(firstCostPort); len(local.ports) < portsPerSet || len(forwarded.ports) < portsPerSet; port++ {
		bucket := datapath.Bucket(datapath.Tuple{Source: client, Destination: addr, SourcePort: port, DestinationPort: lab.ResponderPort, Protocol: 6}, owner.DefaultSize)
		primary, _ := table.Owner(int(bucket))
		set := &forwarded
		if primary == l.Nodes[0].Name {
			set = &local
		}
		if len(set.ports) < portsPerSet {
			set.ports = append(set.ports, port)
			set.owner[port] = primary
		}
	}
	return local, forwarded, nil
}

// setDirector turns the director of the pool on or off and waits until
// every node's status says so and every flow is served where it should
// be: by its owner with the director on, by node-0 with it off.
func (b *costBench) setDirector(ctx context.Context, on bool) error {
	if on != b.on {
		if err := b.patchPool(ctx, func(pool *v1alpha1.IPPool) {
			pool.Spec.Director = nil
			if on {
				pool.Spec.Director = &v1alpha1.PoolDirector{Enabled: true}
			}
		}); err != nil {
			return fmt.Errorf("turn the director %s: %w", onOff(on), err)
		}
		b.on = on
	}
	if err := untilDirectorStatus(ctx, b.lab, on); err != nil {
		return err
	}
	return b.untilServedAsPlanned(ctx, on, time.Minute)
}

// patchPool applies edit to the section's pool.
func (b *costBench) patchPool(ctx context.Context, edit func(*v1alpha1.IPPool)) error {
	var pool v1alpha1.IPPool
	if err := b.lab.Client.Get(ctx, client.ObjectKey{Name: costPool}, &pool); err != nil {
		return err
	}
	patch := client.MergeFrom(pool.DeepCopy())
	edit(&pool)
	return b.lab.Client.Patch(ctx, &pool, patch)
}

// untilDirectorStatus waits until every node's status shows its datapath
// ready (on) or shows no director at all (off: the datapath is closed).
func untilDirectorStatus(ctx context.Context, l *lab.Lab, on bool) error {
	if on {
		return untilDirectorReady(ctx, l)
	}
	for _, n := range l.Nodes {
		err := until(30*time.Second, n.Name+" shows no director", func() bool {
			var st v1alpha1.BGPNodeStatus
			return l.Client.Get(ctx, client.ObjectKey{Name: n.Name}, &st) == nil && st.Status.Director == nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// untilServedAsPlanned opens one connection from every port of both sets
// until each is served by the node it should be, which with the director
// on happens only once every node's tables name all three nodes Active.
func (b *costBench) untilServedAsPlanned(ctx context.Context, on bool, timeout time.Duration) error {
	what := fmt.Sprintf("every flow is served by its owner (director %s)", onOff(on))
	return poll.UntilEvery(ctx, 200*time.Millisecond, timeout, what, func() (bool, string) {
		for _, set := range []flowSet{b.local, b.forwarded} {
			for _, port := range set.ports {
				want := b.lab.Nodes[0].Name
				if on {
					want = set.owner[port]
				}
				served, err := b.servedBy(ctx, port)
				if err != nil || served != want {
					return false, fmt.Sprintf("port %d: served by %q, want %s (%v)", port, served, want, err)
				}
			}
		}
		return true, ""
	})
}

// servedBy opens one connection from port and returns the node whose pod
// served it. The Service is Local, so kube-proxy keeps the client's
// address and the serving pod is on the node that took the connection in.
func (b *costBench) servedBy(ctx context.Context, port uint16) (string, error) {
	c, err := b.lab.DialFrom(ctx, port, netip.AddrPortFrom(b.addr, lab.ResponderPort))
	if err != nil {
		return "", err
	}
	defer closeWithReset(c)
	a, err := readAnswer(c)
	return a.PodNode, err
}

// boolIndex is 0 for off and 1 for on.
func boolIndex(on bool) int {
	if on {
		return 1
	}
	return 0
}
