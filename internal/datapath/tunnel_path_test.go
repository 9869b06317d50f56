//go:build linux

package datapath

import (
	"maps"
	"net/netip"
	"testing"
)

// Through real namespaces: the hop-1 receiver keeps a SYN and a packet its
// conntrack knows; when the owner changes, a packet the new owner does not
// know goes on to the secondary at hop 2, so the connection survives; and
// a packet that reaches hop 2 is kept there even though nobody knows it,
// never sent a third time.
func TestTunnelledConnectionsSurviveAnOwnerChange(t *testing.T) {
	l := newTestNodes(t)
	n1, n2, n3 := l.nodes[0], l.nodes[1], l.nodes[2]
	for _, tc := range []struct {
		name       string
		service    netip.Addr
		client     netip.Addr
		underlayV6 bool
	}{
		{"IPv4 over an IPv4 underlay", serviceV4, netip.MustParseAddr("10.99.0.100"), false},
		{"IPv6 over an IPv6 underlay", serviceV6, netip.MustParseAddr("fd99::100"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Node 2 owns every flow and node 3 is second.
			l.setTable(t, Owners{Primary: 2, Secondary: 3}, tc.underlayV6)
			before1, before2 := readCounters(t, n1.datapath), readCounters(t, n2.datapath)
			first := l.dial(t, tc.service)
			if first.server != n2.name {
				t.Fatalf("the connection reached %s, want the owner %s", first.server, n2.name)
			}
			waitCounters(t, n1, "the SYN tunnelled to n2 at hop 1", func(c Counters) bool { return c.Sent[2].Hop1 > before1.Sent[2].Hop1 })
			waitCounters(t, n2, "the SYN kept at hop 1", func(c Counters) bool { return c.PassedSYN > before2.PassedSYN })
			first.echo(t, "one")
			waitCounters(t, n2, "a packet kept at hop 1 by conntrack", func(c Counters) bool { return c.PassedConntrack > before2.PassedConntrack })

			// Node 3 takes every bucket over, node 2 is second.
			l.setTable(t, Owners{Primary: 3, Secondary: 2}, tc.underlayV6)
			before2, before3 := readCounters(t, n2.datapath), readCounters(t, n3.datapath)
			first.echo(t, "two")
			waitCounters(t, n3, "second chances to n2", func(c Counters) bool {
				return c.SecondChances > before3.SecondChances && c.Sent[2].Hop2 > before3.Sent[2].Hop2
			})
			waitCounters(t, n2, "packets kept at hop 2", func(c Counters) bool { return c.PassedHop2 > before2.PassedHop2 })
			second := l.dial(t, tc.service)
			if second.server != n3.name {
				t.Fatalf("a new connection reached %s, want the new owner %s", second.server, n3.name)
			}
			second.echo(t, "three")

			// A packet of a flow no node knows: n3 sends it on, n2 keeps it.
			before2 = readCounters(t, n2.datapath)
			l.sendFromClient(t, tcpPacket(netip.AddrPortFrom(tc.client, 33333), netip.AddrPortFrom(tc.service, servicePort), flagACK))
			after2 := waitCounters(t, n2, "the unknown packet kept at hop 2", func(c Counters) bool { return c.PassedHop2 > before2.PassedHop2 })
			// While the tables changed node by node, n2 may have sent an
			// earlier packet on (a hop-1 receiver decides by its own
			// table); what counts is that this one went nowhere.
			if !maps.Equal(after2.Sent, before2.Sent) || after2.SecondChances != before2.SecondChances || after2.PassedNoState != before2.PassedNoState {
				t.Errorf("n2 did more than keep packets at hop 2: before %+v, after %+v", before2, after2)
			}
		})
	}
}

// A hop-1 receiver decides by its own table, not the sender's. Node 2 owns
// a connection; then node 2 drains: node 1, where the router sends the
// client, already forwards by the new table (node 3 primary, node 2
// secondary), while node 3 still has the old one (node 2 primary, node 3
// secondary). Node 3 does not know the connection and sends it on to the
// primary of its own table, node 2, which keeps it: the connection lives.
func TestAHop1ReceiverATableBehindSendsTheFlowToItsOwnPrimary(t *testing.T) {
	l := newTestNodes(t)
	n1, n2, n3 := l.nodes[0], l.nodes[1], l.nodes[2]
	l.setTable(t, Owners{Primary: 2, Secondary: 3}, false)
	conn := l.dial(t, serviceV4)
	if conn.server != n2.name {
		t.Fatalf("the connection reached %s, want %s", conn.server, n2.name)
	}
	conn.echo(t, "before")

	l.setTableOn(t, n1, Owners{Primary: 3, Secondary: 2}, false)
	l.setTableOn(t, n2, Owners{Primary: 3, Secondary: 2}, false)
	before3 := readCounters(t, n3.datapath)
	conn.echo(t, "during")
	waitCounters(t, n3, "second chances to n2, the primary of n3's own table", func(c Counters) bool {
		return c.Sent[2].Hop2 > before3.Sent[2].Hop2
	})
}
