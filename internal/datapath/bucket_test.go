//go:build linux

package datapath

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// randomFlow is a TCP or UDP flow from a random IPv4 or IPv6 client to one
// of services, which holds an IPv4 and an IPv6 address.
func randomFlow(rng *rand.Rand, services []netip.Addr) Tuple {
	service := services[rng.IntN(len(services))]
	var source netip.Addr
	if service.Is4() {
		source = netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
	} else {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		b[0] = 0x20 // keep it a global unicast address, never v4-mapped
		source = netip.AddrFrom16(b)
	}
	protocol := uint8(protocolTCP)
	if rng.IntN(2) == 1 {
		protocol = protocolUDP
	}
	return Tuple{Source: source, Destination: service, SourcePort: uint16(rng.Uint32()), DestinationPort: uint16(rng.Uint32()), Protocol: protocol}
}

// flowPacket is a packet of flow that is not a SYN.
func flowPacket(flow Tuple) []byte {
	source := netip.AddrPortFrom(flow.Source, flow.SourcePort)
	destination := netip.AddrPortFrom(flow.Destination, flow.DestinationPort)
	if flow.Protocol == protocolUDP {
		return ethernet(udpPacket(source, destination, []byte("data")))
	}
	return ethernet(tcpPacket(source, destination, flagACK))
}

// sentBy returns the one node and hop a packet was sent to between two
// readings of the counters.
func sentBy(t *testing.T, before, after Counters) (NodeID, int) {
	t.Helper()
	var node NodeID
	hop, changes := 0, 0
	for n, sent := range after.Sent {
		was := before.Sent[n]
		if sent.Hop1 != was.Hop1 {
			node, hop, changes = n, 1, changes+int(sent.Hop1-was.Hop1)
		}
		if sent.Hop2 != was.Hop2 {
			node, hop, changes = n, 2, changes+int(sent.Hop2-was.Hop2)
		}
	}
	if changes != 1 {
		t.Fatalf("one packet was counted as sent %d times: before %+v, after %+v", changes, before.Sent, after.Sent)
	}
	return node, hop
}

// The kernel and Bucket pick the same bucket. Every bucket's primary names
// it (bucket b is owned by node 1 + b modulo the 8179 node IDs used), this
// node owns none, so the node each packet is sent to tells which bucket
// the kernel chose.
func TestBucketAgreesWithTheKernel(t *testing.T) {
	const namedBuckets = 8179
	services := []netip.Addr{serviceV4, serviceV6}
	for _, bucketCount := range []uint32{namedBuckets, 65521} {
		d := loadForTest(t, MaxNodes-1, bucketCount)
		table := make([]Owners, bucketCount)
		for b := range table {
			table[b] = Owners{Primary: NodeID(1 + b%namedBuckets)}
		}
		setup(t, d, serviceV4, table)
		if err := d.SetService(serviceV6, 7); err != nil {
			t.Fatal(err)
		}
		for node := NodeID(10); node <= namedBuckets; node++ {
			if err := d.SetNode(node, netip.MustParseAddr("fd00::1")); err != nil {
				t.Fatal(err)
			}
		}
		rng := rand.New(rand.NewPCG(uint64(bucketCount), 19))
		before := readCounters(t, d)
		for range 400 {
			flow := randomFlow(rng, services)
			requireTunnelled(t, flowPacket(flow), runUplink(t, d, flowPacket(flow)))
			after := readCounters(t, d)
			node, _ := sentBy(t, before, after)
			if want := NodeID(1 + Bucket(flow, bucketCount)%namedBuckets); node != want {
				t.Fatalf("%d buckets: the kernel sent %+v to node %d, Bucket says bucket %d (node %d)",
					bucketCount, flow, node, Bucket(flow, bucketCount), want)
			}
			before = after
		}
	}
}
