//go:build linux

package datapath

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/testpoll"
	"golang.org/x/sys/unix"
)

// The tunnel side cannot be run on crafted packets (a test run carries no
// tunnel key), so it is tested for real: three nodes and a client, each a
// network namespace, on one bridge; every node has the Service addresses
// on its loopback, a server on port 8080 that greets with the node's name
// and echoes, the tunnel device and the director on its uplink and tunnel.
// The client reaches the Service addresses through node 1, as if a router
// had picked it.

const servicePort = 8080

// harnessClientV4 is the client's IPv4 address on the nodes' network.
var harnessClientV4 = netip.MustParseAddr("10.99.0.100")

type testNode struct {
	name       string
	ns         string
	id         NodeID
	datapath   *Datapath
	uplinkMAC  net.HardwareAddr
	underlayV4 netip.Addr
	underlayV6 netip.Addr
}

type testNodes struct {
	client        string
	clientIfindex int
	nodes         []*testNode
}

func newTestNodes(t *testing.T) *testNodes {
	t.Helper()
	l := buildTestNodes(t)
	for _, node := range l.nodes {
		node.startDatapath(t)
	}
	return l
}

// buildTestNodes builds the namespaces, the network and the servers, and
// leaves each node's datapath to the test.
func buildTestNodes(t *testing.T) *testNodes {
	t.Helper()
	lan := newNetns(t, "lan")
	inNetnsCommand(t, lan, "ip", "link", "add", "br0", "mtu", "1600", "type", "bridge")
	inNetnsCommand(t, lan, "ip", "link", "set", "br0", "up")
	l := &testNodes{client: newNetns(t, "client")}
	plug(t, lan, l.client, "pc", harnessClientV4.String(), "fd99::100")
	inNetnsCommand(t, l.client, "ip", "route", "add", serviceV4.String(), "via", "10.99.0.1")
	inNetnsCommand(t, l.client, "ip", "-6", "route", "add", serviceV6.String(), "via", "fd99::1")
	inNetns(t, l.client, func() { l.clientIfindex = interfaceIndex(t, "eth0") })
	for i := 1; i <= 3; i++ {
		node := &testNode{
			name: fmt.Sprintf("n%d", i), id: NodeID(i),
			underlayV4: netip.AddrFrom4([4]byte{10, 99, 0, byte(i)}),
			underlayV6: netip.MustParseAddr(fmt.Sprintf("fd99::%d", i)),
		}
		node.ns = newNetns(t, node.name)
		plug(t, lan, node.ns, "p"+node.name, node.underlayV4.String(), node.underlayV6.String())
		l.nodes = append(l.nodes, node)
	}
	// Node 2 filters reverse paths strictly host-wide, node 3 makes new
	// devices strict: the tunnel device must cope with both.
	inNetnsCommand(t, l.nodes[1].ns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1")
	inNetnsCommand(t, l.nodes[2].ns, "sysctl", "-qw", "net.ipv4.conf.default.rp_filter=1")
	for _, node := range l.nodes {
		node.prepare(t)
	}
	return l
}

// plug connects namespace ns to the bridge with a veth whose end in ns is
// eth0 with the two addresses.
func plug(t *testing.T, lan, ns, port, v4, v6 string) {
	t.Helper()
	command(t, "ip", "link", "add", port, "mtu", "1600", "netns", lan, "type", "veth", "peer", "name", "eth0", "mtu", "1600", "netns", ns)
	inNetnsCommand(t, lan, "ip", "link", "set", port, "master", "br0", "up")
	inNetnsCommand(t, ns, "ip", "address", "add", v4+"/24", "dev", "eth0")
	inNetnsCommand(t, ns, "ip", "address", "add", v6+"/64", "dev", "eth0", "nodad")
	inNetnsCommand(t, ns, "ip", "link", "set", "eth0", "up")
}

func interfaceIndex(t *testing.T, name string) int {
	t.Helper()
	iface, err := net.InterfaceByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return iface.Index
}

// prepare gives the node its Service addresses, conntrack and servers.
func (n *testNode) prepare(t *testing.T) {
	t.Helper()
	for _, address := range []netip.Addr{serviceV4, serviceV6} {
		inNetnsCommand(t, n.ns, "ip", "address", "add", netip.PrefixFrom(address, address.BitLen()).String(), "dev", "lo", "nodad")
	}
	activateConntrack(t, n.ns)
	inNetns(t, n.ns, func() {
		for _, address := range []netip.Addr{serviceV4, serviceV6} {
			n.serve(t, netip.AddrPortFrom(address, servicePort))
		}
		iface, err := net.InterfaceByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		n.uplinkMAC = iface.HardwareAddr
	})
}

// startDatapath gives the node its tunnel device and the director, with a
// lease that outlasts the test.
func (n *testNode) startDatapath(t *testing.T) {
	t.Helper()
	inNetns(t, n.ns, func() {
		tunnel := ensureTunnel(t, testDevice)
		t.Logf("%s: tunnel device found %q, changed %q", n.name, tunnel.Found, tunnel.Changed)
		t.Cleanup(func() {
			inNetns(t, n.ns, func() {
				if err := tunnel.Close(); err != nil {
					t.Errorf("%s: %v", n.name, err)
				}
			})
		})
		d, err := Load(Config{Node: n.id, BucketCount: 13, TunnelIfindex: tunnel.Ifindex, TunnelMAC: testTunnelMAC})
		if err != nil {
			t.Fatal(err)
		}
		n.datapath = d
		t.Cleanup(func() {
			if err := d.Close(); err != nil {
				t.Errorf("%s: %v", n.name, err)
			}
		})
		if err := d.RenewLease(time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := d.AttachUplink(interfaceIndex(t, "eth0")); err != nil {
			t.Fatal(err)
		}
		if err := d.AttachTunnel(tunnel.Ifindex); err != nil {
			t.Fatal(err)
		}
	})
}

// serve greets every connection with the node's name and echoes it.
func (n *testNode) serve(t *testing.T, address netip.AddrPort) {
	t.Helper()
	listener, err := net.Listen("tcp", address.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Close() })
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				fmt.Fprintf(conn, "%s\n", n.name)
				_, _ = io.Copy(conn, conn)
			}()
		}
	}()
}

// setTable gives every node the same table (one owner pair for every
// bucket) for both Service addresses, and the nodes' underlay addresses
// of one family.
func (l *testNodes) setTable(t *testing.T, owners Owners, underlayV6 bool) {
	t.Helper()
	for _, node := range l.nodes {
		l.setTableOn(t, node, owners, underlayV6)
	}
}

// setTableOn gives one node that table, as when the nodes' tables are a
// change apart.
func (l *testNodes) setTableOn(t *testing.T, node *testNode, owners Owners, underlayV6 bool) {
	t.Helper()
	for _, peer := range l.nodes {
		underlay := peer.underlayV4
		if underlayV6 {
			underlay = peer.underlayV6
		}
		if err := node.datapath.SetNode(peer.id, underlay); err != nil {
			t.Fatal(err)
		}
	}
	if err := node.datapath.SetTable(1, uniformTable(13, owners)); err != nil {
		t.Fatal(err)
	}
	for _, service := range []netip.Addr{serviceV4, serviceV6} {
		if err := node.datapath.SetService(service, 1); err != nil {
			t.Fatal(err)
		}
	}
}

// clientConn is a connection from the client to a node's server.
type clientConn struct {
	conn   net.Conn
	reader *bufio.Reader
	server string
}

func (l *testNodes) dial(t *testing.T, service netip.Addr) *clientConn {
	t.Helper()
	var conn net.Conn
	inNetns(t, l.client, func() {
		var err error
		conn, err = net.DialTimeout("tcp", netip.AddrPortFrom(service, servicePort).String(), 10*time.Second)
		if err != nil {
			t.Fatalf("connect to %s: %v", service, err)
		}
	})
	t.Cleanup(func() { conn.Close() })
	c := &clientConn{conn: conn, reader: bufio.NewReader(conn)}
	c.server = c.line(t)
	return c
}

func (c *clientConn) line(t *testing.T) string {
	t.Helper()
	if err := c.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	line, err := c.reader.ReadString('\n')
	if err != nil {
		t.Fatalf("read from the server: %v", err)
	}
	return strings.TrimSuffix(line, "\n")
}

func (c *clientConn) echo(t *testing.T, text string) {
	t.Helper()
	if _, err := fmt.Fprintf(c.conn, "%s\n", text); err != nil {
		t.Fatalf("send %q: %v", text, err)
	}
	if got := c.line(t); got != text {
		t.Fatalf("echo of %q is %q", text, got)
	}
}

// sendFromClient puts a crafted IP packet on the client's link to node 1.
func (l *testNodes) sendFromClient(t *testing.T, ip []byte) {
	t.Helper()
	frame := ethernetTo(l.nodes[0].uplinkMAC, testClientMAC, ip)
	inNetns(t, l.client, func() {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		to := &unix.SockaddrLinklayer{Ifindex: l.clientIfindex, Halen: 6}
		copy(to.Addr[:], l.nodes[0].uplinkMAC)
		if err := unix.Sendto(fd, frame, 0, to); err != nil {
			t.Fatalf("send a crafted packet: %v", err)
		}
	})
}

// waitCounters polls node's counters until check accepts them.
func waitCounters(t *testing.T, node *testNode, what string, check func(Counters) bool) Counters {
	t.Helper()
	var last Counters
	testpoll.Until(t, 10*time.Second, node.name+": "+what, func() (bool, string) {
		last = readCounters(t, node.datapath)
		return check(last), fmt.Sprintf("%+v", last)
	})
	return last
}
