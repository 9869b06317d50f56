//go:build linux

package datapath

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/bgplb/bgplb/internal/director"
	"github.com/bgplb/bgplb/internal/owner"
	"github.com/bgplb/bgplb/internal/testpoll"
)

// A speaker restart through real namespaces. Node 1 runs a Node, which
// forwards every flow to node 2 (node 3 second); nodes 2 and 3 run the
// harness's datapaths. A connection through node 1 to node 2 keeps
// echoing after node 1's Node leaves, and after the next Node takes the
// datapath over. Meanwhile the client sends node 1 a crafted packet of a
// new flow every half millisecond: node 2 knows none of them and sends
// each on to node 3, so node 2's count of those equals the packets sent
// only if node 1 forwarded every one, with no moment without a program
// on its uplink. Then the second Node leaves and nobody takes over: once
// the lease has run out the program leaves packets alone. A third Node's
// Close finally removes everything.
func TestTheDatapathForwardsThroughASpeakerRestart(t *testing.T) {
	l := buildTestNodes(t)
	n1, n2, n3 := l.nodes[0], l.nodes[1], l.nodes[2]
	for _, node := range []*testNode{n2, n3} {
		node.startDatapath(t)
		l.setTableOn(t, node, Owners{Primary: 2, Secondary: 3}, false)
	}
	opts := Options{TunnelAddress: n1.underlayV4, Uplinks: []string{"eth0"}, Device: testDevice,
		PinDir: filepath.Join(bpffsDir(t), n1.name), Lease: 5 * time.Second}
	apply := func(n *Node) {
		t.Helper()
		if err := n.Apply(context.Background(), director.ApplyRequest{Plan: l.planOwnedBy(n2, n3), Self: n1.name}); err != nil {
			t.Fatalf("Apply: %v", err)
		}
	}
	first := openNodeIn(t, n1.ns, opts)
	apply(first)
	conn := l.dial(t, serviceV4)
	if conn.server != n2.name {
		t.Fatalf("the connection reached %s, want its owner %s", conn.server, n2.name)
	}
	conn.echo(t, "before the restart")

	secondChances := func(c Counters) uint64 { return c.Sent[3].Hop2 }
	base := secondChances(readCounters(t, n2.datapath))
	stream := l.startStream(t)
	waitCounters(t, n2, "crafted packets forwarded by the first Node's program", func(c Counters) bool { return secondChances(c) > base })

	if err := first.Leave(); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	left := secondChances(readCounters(t, n2.datapath))
	waitCounters(t, n2, "crafted packets forwarded by the program left behind", func(c Counters) bool { return secondChances(c) > left })
	conn.echo(t, "after Leave")

	second := openNodeIn(t, n1.ns, opts)
	if c := nodeCounters(t, second); len(c.Forwarded) != 0 {
		t.Errorf("a Node just opened counts packets it never handled: %+v", c)
	}
	apply(second)
	testpoll.Until(t, 10*time.Second, "packets counted by the second Node's program", func() (bool, string) {
		c := nodeCounters(t, second)
		return c.Forwarded[n2.name] > 0, fmt.Sprintf("%+v", c)
	})
	sent := stream.stop(t)
	waitCounters(t, n2, fmt.Sprintf("all %d crafted packets forwarded by node 1", sent), func(c Counters) bool { return secondChances(c)-base == sent })
	conn.echo(t, "after the takeover")
	inNetns(t, n1.ns, func() {
		if n := attachedAtIngress(t, interfaceIndex(t, "eth0")); n != 1 {
			t.Errorf("%d programs on node 1's uplink, want the one that replaced the first", n)
		}
	})
	requireFinding(t, second.Findings().Changed, "took over the datapath on eth0 (uplink)")
	requireFinding(t, second.Findings().Found, "tunnel device vx0 was made by an earlier speaker")

	if err := second.Leave(); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	l.requireUntouchedOnceTheLeaseRunsOut(t, filepath.Join(opts.PinDir, "link-uplink-eth0"))

	third := openNodeIn(t, n1.ns, opts)
	apply(third)
	if err := third.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := pinned(t, opts.PinDir); len(got) != 0 {
		t.Errorf("Close left %q pinned", got)
	}
	inNetns(t, n1.ns, func() {
		if n := attachedAtIngress(t, interfaceIndex(t, "eth0")); n != 0 {
			t.Errorf("%d programs on node 1's uplink after Close", n)
		}
		if _, err := netlink.LinkByName(testDevice.Name); err == nil {
			t.Error("Close left the tunnel device that the first Node made")
		}
	})
}

// requireUntouchedOnceTheLeaseRunsOut waits until the program attached
// through the pinned link counts packets as past its lease, and checks
// that packets sent then are all counted so and none reaches node 2.
func (l *testNodes) requireUntouchedOnceTheLeaseRunsOut(t *testing.T, pin string) {
	t.Helper()
	probe := tcpPacket(netip.AddrPortFrom(harnessClientV4, 19999), netip.AddrPortFrom(serviceV4, servicePort), flagACK)
	testpoll.Until(t, 20*time.Second, "the lease to run out", func() (bool, string) {
		l.sendFromClient(t, probe)
		c := pinnedCounters(t, pin)
		return c.LeaseExpired > 0, fmt.Sprintf("%+v", c)
	})
	n2 := l.nodes[1]
	expired, before := pinnedCounters(t, pin).LeaseExpired, readCounters(t, n2.datapath)
	const packets = 20
	for port := range uint16(packets) {
		l.sendFromClient(t, tcpPacket(netip.AddrPortFrom(harnessClientV4, 18000+port), netip.AddrPortFrom(serviceV4, servicePort), flagACK))
	}
	testpoll.Until(t, 10*time.Second, "packets left alone past the lease", func() (bool, string) {
		c := pinnedCounters(t, pin)
		return c.LeaseExpired >= expired+packets, fmt.Sprintf("%+v", c)
	})
	if after := readCounters(t, n2.datapath); after.Sent[3] != before.Sent[3] || after.PassedSYN+after.PassedConntrack != before.PassedSYN+before.PassedConntrack {
		t.Errorf("node 2 was sent packets after node 1's lease ran out: before %+v, after %+v", before, after)
	}
}

// planOwnedBy is the plan of serviceV4 whose every bucket has primary
// and secondary as owners.
func (l *testNodes) planOwnedBy(primary, secondary *testNode) director.Plan {
	buckets := make([]owner.Owners, owner.DefaultSize)
	for i := range buckets {
		buckets[i] = owner.Owners{Primary: 1, Secondary: 2}
	}
	tunnels := map[string]netip.Addr{}
	for _, node := range l.nodes {
		tunnels[node.name] = node.underlayV4
	}
	return director.Plan{
		Tables:    map[string]owner.Table{"t": {Nodes: []string{primary.name, secondary.name}, Buckets: buckets}},
		Addresses: map[netip.Addr]string{serviceV4: "t"},
		Tunnels:   tunnels,
	}
}

func nodeCounters(t *testing.T, n *Node) director.Counters {
	t.Helper()
	c, err := n.Counters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pinnedCounters reads the counters of the program attached through the
// link pinned at path, which no Node holds any more.
func pinnedCounters(t *testing.T, path string) Counters {
	t.Helper()
	l, err := link.LoadPinnedLink(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		t.Fatal(err)
	}
	program, err := ebpf.NewProgramFromID(info.Program)
	if err != nil {
		t.Fatal(err)
	}
	defer program.Close()
	programInfo, err := program.Info()
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := programInfo.MapIDs()
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if mapInfo, err := m.Info(); err == nil && mapInfo.Name == directorMapCounters {
			d := &Datapath{objects: directorObjects{directorMaps: directorMaps{Counters: m}}}
			global, err := d.globalCounters()
			if err != nil {
				t.Fatal(err)
			}
			return Counters{PassedSYN: global.PassedSyn, PassedConntrack: global.PassedConntrack, NoOwner: global.NoOwner, LeaseExpired: global.LeaseExpired}
		}
	}
	t.Fatalf("the program pinned at %s has no map %q", path, directorMapCounters)
	return Counters{}
}

// packetStream sends node 1 a crafted packet of a new flow, not a SYN,
// every half millisecond, from the client.
type packetStream struct {
	fd       int
	done     chan struct{}
	finished sync.WaitGroup
	sent     atomic.Uint64
	failure  atomic.Pointer[error]
	once     sync.Once
}

func (l *testNodes) startStream(t *testing.T) *packetStream {
	t.Helper()
	s := &packetStream{done: make(chan struct{})}
	// A socket belongs to the namespace it was made in, whichever thread
	// uses it later.
	inNetns(t, l.client, func() {
		var err error
		if s.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0); err != nil {
			t.Fatal(err)
		}
	})
	uplinkMAC := l.nodes[0].uplinkMAC
	to := &unix.SockaddrLinklayer{Ifindex: l.clientIfindex, Halen: 6}
	copy(to.Addr[:], uplinkMAC)
	s.finished.Go(func() {
		ticker := time.NewTicker(500 * time.Microsecond)
		defer ticker.Stop()
		for port := uint16(20000); ; port = 20000 + (port-20000+1)%20000 {
			select {
			case <-s.done:
				return
			case <-ticker.C:
			}
			frame := ethernetTo(uplinkMAC, testClientMAC, tcpPacket(netip.AddrPortFrom(harnessClientV4, port), netip.AddrPortFrom(serviceV4, servicePort), flagACK))
			if err := unix.Sendto(s.fd, frame, 0, to); err != nil {
				s.failure.Store(&err)
				return
			}
			s.sent.Add(1)
		}
	})
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop ends the stream and returns how many packets it sent.
func (s *packetStream) stop(t *testing.T) uint64 {
	t.Helper()
	s.once.Do(func() {
		close(s.done)
		s.finished.Wait()
		unix.Close(s.fd)
		if err := s.failure.Load(); err != nil {
			t.Errorf("send a crafted packet: %v", *err)
		}
	})
	return s.sent.Load()
}
