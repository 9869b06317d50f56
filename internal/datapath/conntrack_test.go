//go:build linux

package datapath

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/testpoll"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The conntrack rule at the primary, tested on real entries: a namespace
// with conntrack active holds both a Service address and a client address
// on its loopback, a real TCP connection between them leaves an entry, and
// the program then runs in that namespace.

func conntrackNode(t *testing.T, f family) string {
	t.Helper()
	ns := newNetns(t, "node")
	activateConntrack(t, ns)
	for _, address := range []netip.Addr{f.service, f.client} {
		inNetnsCommand(t, ns, "ip", "address", "add", netip.PrefixFrom(address, address.BitLen()).String(), "dev", "lo", "nodad")
	}
	return ns
}

// connection is a real TCP connection from the client address to the
// Service address, with both ends.
type connection struct {
	client, server net.Conn
	flow           Tuple
}

// connect opens a connection in the calling thread's namespace, from
// clientPort (0: any) to port 80 of the Service address.
func connect(t *testing.T, f family, clientPort uint16) connection {
	t.Helper()
	listener, err := net.Listen("tcp", netip.AddrPortFrom(f.service, 80).String())
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	dialer := net.Dialer{
		LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(f.client, clientPort)),
		// A port reused while the server's side lingers in TIME_WAIT.
		Control: func(_, _ string, c syscall.RawConn) error {
			var soErr error
			err := c.Control(func(fd uintptr) { soErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) })
			if err != nil {
				return err
			}
			return soErr
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := dialer.DialContext(ctx, "tcp", listener.Addr().String())
	if err != nil {
		t.Fatalf("connect from port %d: %v", clientPort, err)
	}
	server, err := listener.Accept()
	if err != nil {
		t.Fatal(err)
	}
	local := client.LocalAddr().(*net.TCPAddr).AddrPort()
	return connection{client: client, server: server, flow: Tuple{
		Source: local.Addr().Unmap(), Destination: f.service,
		SourcePort: local.Port(), DestinationPort: 80, Protocol: protocolTCP,
	}}
}

// closeServerFirst ends the connection with the server closing first, so
// that the server's socket, not the client's port, stays in TIME_WAIT.
func (c connection) closeServerFirst(t *testing.T) {
	t.Helper()
	if err := c.server.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(c.client); err != nil {
		t.Fatalf("read the server's close: %v", err)
	}
	if err := c.client.Close(); err != nil {
		t.Fatal(err)
	}
}

// conntrackState is the TCP state of the namespace's entry for flow, or
// "none".
func conntrackState(t *testing.T, flow Tuple) string {
	t.Helper()
	family := netlink.InetFamily(unix.AF_INET)
	if flow.Source.Is6() {
		family = unix.AF_INET6
	}
	entries, err := netlink.ConntrackTableList(netlink.ConntrackTable, family)
	if err != nil {
		t.Fatalf("list conntrack entries: %v", err)
	}
	for _, e := range entries {
		source, _ := netip.AddrFromSlice(e.Forward.SrcIP)
		if source.Unmap() == flow.Source && e.Forward.SrcPort == flow.SourcePort && e.Forward.DstPort == flow.DestinationPort {
			if tcp, ok := e.ProtoInfo.(*netlink.ProtoInfoTCP); ok {
				return fmt.Sprint(tcp.State)
			}
			return "without TCP state"
		}
	}
	return "none"
}

func packetOf(flow Tuple, flags uint8) []byte {
	return ethernet(tcpPacket(netip.AddrPortFrom(flow.Source, flow.SourcePort), netip.AddrPortFrom(flow.Destination, flow.DestinationPort), flags))
}

const (
	stateEstablished = "3"
	stateTimeWait    = "7"
)

func TestConntrackEntryKeepsPacketsAtThePrimary(t *testing.T) {
	eachFamily(t, uniformTable(13, Owners{Primary: 1, Secondary: 2}), func(t *testing.T, f family, d *Datapath) {
		ns := conntrackNode(t, f)
		inNetns(t, ns, func() {
			c := connect(t, f, 0)
			defer c.client.Close()
			defer c.server.Close()
			if state := conntrackState(t, c.flow); state != stateEstablished {
				t.Fatalf("conntrack state of %+v is %s, want established", c.flow, state)
			}
			ack := packetOf(c.flow, flagACK)
			requireUntouched(t, ack, runUplink(t, d, ack))
			// The ICMP error about the Service's reply is checked by the
			// flow it quotes, and conntrack knows that flow.
			tooBig := ethernet(tooBigPacket(f.router, replyPacket(c.flow)))
			requireUntouched(t, tooBig, runUplink(t, d, tooBig))
		})
		requireCounters(t, d, Counters{PassedConntrack: 2})
	})
}

// A client reuses a source port while the new primary still holds the
// previous connection's entry in TIME_WAIT. The program ignores an entry
// of a connection that is over: a packet of another connection on the
// same tuple (one that lives on the secondary) goes on to the secondary
// rather than being caught here. The client's new connection from the
// same port opens with a SYN, which the primary keeps; conntrack reopens
// the entry on that SYN, and the connection's later packets are kept by
// it.
func TestStaleConntrackEntryDoesNotHoldAReusedPort(t *testing.T) {
	eachFamily(t, uniformTable(13, Owners{Primary: 1, Secondary: 2}), func(t *testing.T, f family, d *Datapath) {
		ns := conntrackNode(t, f)
		inNetns(t, ns, func() {
			first := connect(t, f, 0)
			first.closeServerFirst(t)
			testpoll.Until(t, 10*time.Second, "the closed connection's entry in TIME_WAIT", func() (bool, string) {
				state := conntrackState(t, first.flow)
				return state == stateTimeWait, state
			})
			ack := packetOf(first.flow, flagACK)
			requireTunnelled(t, ack, runUplink(t, d, ack))
			syn := packetOf(first.flow, flagSYN)
			requireUntouched(t, syn, runUplink(t, d, syn))

			second := connect(t, f, first.flow.SourcePort)
			defer second.client.Close()
			defer second.server.Close()
			if state := conntrackState(t, second.flow); state != stateEstablished {
				t.Fatalf("conntrack state of the reused port's connection is %s, want established", state)
			}
			requireUntouched(t, ack, runUplink(t, d, ack))
		})
		requireCounters(t, d, Counters{
			Sent: map[NodeID]Sent{2: {Hop2: 1}}, SecondChances: 1, PassedSYN: 1, PassedConntrack: 1,
		})
	})
}
