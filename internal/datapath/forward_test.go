//go:build linux

package datapath

import (
	"net/netip"
	"testing"
)

var (
	serviceV4 = netip.MustParseAddr("192.0.2.10")
	serviceV6 = netip.MustParseAddr("2001:db8::10")
	clientV4  = netip.MustParseAddr("198.51.100.7")
	clientV6  = netip.MustParseAddr("2001:db8:1::7")
	routerV4  = netip.MustParseAddr("203.0.113.1")
	routerV6  = netip.MustParseAddr("2001:db8:2::1")
)

type family struct {
	name                    string
	service, client, router netip.Addr
}

var families = []family{
	{"IPv4", serviceV4, clientV4, routerV4},
	{"IPv6", serviceV6, clientV6, routerV6},
}

func TestNonServiceTrafficIsUntouched(t *testing.T) {
	d := loadForTest(t, 1, 13)
	setup(t, d, serviceV4, uniformTable(13, Owners{Primary: 2, Secondary: 3}))
	if err := d.SetService(serviceV6, 7); err != nil {
		t.Fatal(err)
	}
	other := netip.MustParseAddr("192.0.2.99")
	hopByHop := tcpPacket(netip.AddrPortFrom(clientV6, 4000), netip.AddrPortFrom(serviceV6, 80), flagACK)
	hopByHop[6] = 0 // an extension header first: not walked
	fragment := tcpPacket(netip.AddrPortFrom(clientV4, 4000), netip.AddrPortFrom(serviceV4, 80), flagACK)
	fragment[6] = 0x20 // more fragments
	echo := ipPacket(clientV4, serviceV4, protocolICMP, []byte{8, 0, 0, 0, 0, 1, 0, 1}, 2)
	frames := map[string][]byte{
		"TCP to another address":              ethernet(tcpPacket(netip.AddrPortFrom(clientV4, 4000), netip.AddrPortFrom(other, 80), flagACK)),
		"UDP to another address":              ethernet(udpPacket(netip.AddrPortFrom(clientV4, 4000), netip.AddrPortFrom(other, 53), []byte("q"))),
		"ARP":                                 append(append(append([]byte{}, testUplinkMAC...), testClientMAC...), 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1),
		"IPv6 extension header to a Service":  ethernet(hopByHop),
		"IPv4 fragment to a Service":          ethernet(fragment),
		"ICMP echo to a Service":              ethernet(echo),
		"cut off before its ports":            ethernet(tcpPacket(netip.AddrPortFrom(clientV4, 4000), netip.AddrPortFrom(serviceV4, 80), flagACK)[:22]),
		"TCP reply from a Service to clients": ethernet(tcpPacket(netip.AddrPortFrom(serviceV4, 80), netip.AddrPortFrom(clientV4, 4000), flagACK)),
	}
	for name, frame := range frames {
		t.Run(name, func(t *testing.T) {
			requireUntouched(t, frame, runUplink(t, d, frame))
		})
	}
	requireCounters(t, d, Counters{})
}

func TestPacketForAnotherNodesBucketIsTunnelledToIt(t *testing.T) {
	eachFamily(t, uniformTable(13, Owners{Primary: 2, Secondary: 3}), func(t *testing.T, f family, d *Datapath) {
		for _, frame := range [][]byte{
			ethernet(tcpPacket(netip.AddrPortFrom(f.client, 40000), netip.AddrPortFrom(f.service, 80), flagSYN)),
			ethernet(tcpPacket(netip.AddrPortFrom(f.client, 40001), netip.AddrPortFrom(f.service, 80), flagACK)),
			ethernet(udpPacket(netip.AddrPortFrom(f.client, 40002), netip.AddrPortFrom(f.service, 53), []byte("query"))),
		} {
			requireTunnelled(t, frame, runUplink(t, d, frame))
		}
		requireCounters(t, d, Counters{Sent: map[NodeID]Sent{2: {Hop1: 3}}})
	})
}

func TestPacketStaysWhenItsOwnerHasNoAddress(t *testing.T) {
	d := loadForTest(t, 1, 13)
	setup(t, d, serviceV4, uniformTable(13, Owners{Primary: 2, Secondary: 3}))
	if err := d.DeleteNode(2); err != nil {
		t.Fatal(err)
	}
	frame := ethernet(tcpPacket(netip.AddrPortFrom(clientV4, 40000), netip.AddrPortFrom(serviceV4, 80), flagACK))
	requireUntouched(t, frame, runUplink(t, d, frame))
	requireCounters(t, d, Counters{NoOwner: 1})
}

func TestPacketStaysWithoutTableOrOwner(t *testing.T) {
	d := loadForTest(t, 1, 13)
	setup(t, d, serviceV4, uniformTable(13, Owners{}))
	frame := ethernet(tcpPacket(netip.AddrPortFrom(clientV4, 40000), netip.AddrPortFrom(serviceV4, 80), flagACK))
	requireUntouched(t, frame, runUplink(t, d, frame))
	if err := d.DeleteTable(7); err != nil {
		t.Fatal(err)
	}
	requireUntouched(t, frame, runUplink(t, d, frame))
	requireCounters(t, d, Counters{NoOwner: 2})
}

// A bucket without a primary (every node that served it drains) belongs
// to its secondary: the packet goes there first.
func TestWithoutAPrimaryTheSecondaryOwnsTheFlow(t *testing.T) {
	d := loadForTest(t, 1, 13)
	setup(t, d, serviceV4, uniformTable(13, Owners{Secondary: 3}))
	frame := ethernet(tcpPacket(netip.AddrPortFrom(clientV4, 40000), netip.AddrPortFrom(serviceV4, 80), flagACK))
	requireTunnelled(t, frame, runUplink(t, d, frame))
	requireCounters(t, d, Counters{Sent: map[NodeID]Sent{3: {Hop1: 1}}})
}

func TestSYNAtThePrimaryIsKept(t *testing.T) {
	eachFamily(t, uniformTable(13, Owners{Primary: 1, Secondary: 2}), func(t *testing.T, f family, d *Datapath) {
		frame := ethernet(tcpPacket(netip.AddrPortFrom(f.client, 40000), netip.AddrPortFrom(f.service, 80), flagSYN))
		requireUntouched(t, frame, runUplink(t, d, frame))
		requireCounters(t, d, Counters{PassedSYN: 1})
	})
}

// A packet that is not a SYN, at its primary, with no conntrack entry (the
// test runs in a fresh namespace, where conntrack knows nothing) goes on to
// the secondary at hop 2: a SYN-ACK, a plain ACK and a UDP datagram alike.
func TestPacketUnknownToThePrimaryGetsASecondChance(t *testing.T) {
	eachFamily(t, uniformTable(13, Owners{Primary: 1, Secondary: 2}), func(t *testing.T, f family, d *Datapath) {
		inNetns(t, newNetns(t, "node"), func() {
			for _, frame := range [][]byte{
				ethernet(tcpPacket(netip.AddrPortFrom(f.client, 40000), netip.AddrPortFrom(f.service, 80), flagSYN|flagACK)),
				ethernet(tcpPacket(netip.AddrPortFrom(f.client, 40001), netip.AddrPortFrom(f.service, 80), flagACK)),
				ethernet(udpPacket(netip.AddrPortFrom(f.client, 40002), netip.AddrPortFrom(f.service, 53), []byte("query"))),
			} {
				requireTunnelled(t, frame, runUplink(t, d, frame))
			}
		})
		requireCounters(t, d, Counters{Sent: map[NodeID]Sent{2: {Hop2: 3}}, SecondChances: 3})
	})
}

func TestPacketUnknownToThePrimaryStaysWithoutAnotherSecondary(t *testing.T) {
	for _, secondary := range []NodeID{0, 1} {
		d := loadForTest(t, 1, 13)
		setup(t, d, serviceV4, uniformTable(13, Owners{Primary: 1, Secondary: secondary}))
		frame := ethernet(tcpPacket(netip.AddrPortFrom(clientV4, 40000), netip.AddrPortFrom(serviceV4, 80), flagACK))
		requireUntouched(t, frame, runUplink(t, d, frame))
		requireCounters(t, d, Counters{PassedNoState: 1})
	}
}

// An ICMP error about a reply the Service sent reaches the node that owns
// the flow it quotes. Each bucket's primary is node 2 or 3 by the bucket's
// parity, and the test picks flows whose reply direction (which a program
// that forgot to turn the quote around would hash) lands on the other
// node; with eight flows per protocol a wrong hash passes by chance once in
// 65536 runs.
func TestTooBigErrorReachesTheQuotedFlowsOwner(t *testing.T) {
	const buckets = 13
	table := make([]Owners, buckets)
	for b := range table {
		table[b] = Owners{Primary: NodeID(2 + b%2), Secondary: 4}
	}
	eachFamily(t, table, func(t *testing.T, f family, d *Datapath) {
		want := map[NodeID]Sent{}
		for _, protocol := range []uint8{protocolTCP, protocolUDP} {
			for _, flow := range flowsWhoseRepliesHashElsewhere(t, f, protocol, table, 8) {
				frame := ethernet(tooBigPacket(f.router, replyPacket(flow)))
				requireTunnelled(t, frame, runUplink(t, d, frame))
				owner := table[Bucket(flow, buckets)].Primary
				want[owner] = Sent{Hop1: want[owner].Hop1 + 1}
			}
		}
		requireCounters(t, d, Counters{Sent: want})
	})
}

func flowsWhoseRepliesHashElsewhere(t *testing.T, f family, protocol uint8, table []Owners, count int) []Tuple {
	t.Helper()
	buckets := uint32(len(table))
	var flows []Tuple
	for port := uint16(40000); port < 41000 && len(flows) < count; port++ {
		flow := Tuple{Source: f.client, Destination: f.service, SourcePort: port, DestinationPort: 443, Protocol: protocol}
		reversed := Tuple{Source: f.service, Destination: f.client, SourcePort: 443, DestinationPort: port, Protocol: protocol}
		if table[Bucket(flow, buckets)].Primary != table[Bucket(reversed, buckets)].Primary {
			flows = append(flows, flow)
		}
	}
	if len(flows) < count {
		t.Fatalf("only %d of 1000 flows hash to another owner than their replies", len(flows))
	}
	return flows
}

// replyPacket is a packet the Service sends back on flow, which a router
// quotes when it is too big.
func replyPacket(flow Tuple) []byte {
	from := netip.AddrPortFrom(flow.Destination, flow.DestinationPort)
	to := netip.AddrPortFrom(flow.Source, flow.SourcePort)
	if flow.Protocol == protocolUDP {
		return udpPacket(from, to, make([]byte, 1400))
	}
	return tcpPacket(from, to, flagACK)
}
