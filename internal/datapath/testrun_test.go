//go:build linux

package datapath

import (
	"bytes"
	"maps"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// Running the program on crafted packets (BPF_PROG_TEST_RUN). These tests
// need root and a kernel that runs the program; they fail without.

const (
	verdictNext     = -1
	verdictRedirect = 7
	// testTunnelIfindex is never used as an interface by a test run, which
	// only returns the redirect verdict.
	testTunnelIfindex = 1
)

var testTunnelMAC = net.HardwareAddr{0x02, 0x62, 0x67, 0x6C, 0x62, 0x00}

// loadForTest loads the program as node self with bucketCount buckets,
// with a lease that outlasts the test.
func loadForTest(t *testing.T, self NodeID, bucketCount uint32) *Datapath {
	t.Helper()
	d := loadWithoutLease(t, self, bucketCount)
	if err := d.RenewLease(time.Hour); err != nil {
		t.Fatal(err)
	}
	return d
}

// loadWithoutLease loads the program as node self with bucketCount
// buckets, as Load leaves it: with no lease.
func loadWithoutLease(t *testing.T, self NodeID, bucketCount uint32) *Datapath {
	t.Helper()
	d, err := Load(Config{Node: self, BucketCount: bucketCount, TunnelIfindex: testTunnelIfindex, TunnelMAC: testTunnelMAC})
	if err != nil {
		t.Fatalf("load the director (tests need root and a kernel with BTF): %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close the director: %v", err)
		}
	})
	return d
}

// uniformTable is a table whose every bucket has the same owners.
func uniformTable(bucketCount uint32, owners Owners) []Owners {
	table := make([]Owners, bucketCount)
	for i := range table {
		table[i] = owners
	}
	return table
}

// setup gives the datapath one Service with one table, and underlay
// addresses for nodes 1 to 9.
func setup(t *testing.T, d *Datapath, service netip.Addr, table []Owners) {
	t.Helper()
	for node := NodeID(1); node < 10; node++ {
		if err := d.SetNode(node, netip.AddrFrom4([4]byte{10, 99, 0, byte(node)})); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.SetTable(7, table); err != nil {
		t.Fatal(err)
	}
	if err := d.SetService(service, 7); err != nil {
		t.Fatal(err)
	}
}

// eachFamily runs test for IPv4 and IPv6, each time with a fresh datapath
// of node 1 that directs the Service address of the family by table.
func eachFamily(t *testing.T, table []Owners, test func(t *testing.T, f family, d *Datapath)) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			d := loadForTest(t, 1, uint32(len(table)))
			setup(t, d, f.service, table)
			test(t, f, d)
		})
	}
}

type runResult struct {
	verdict int32
	out     []byte
}

// runUplink runs the uplink program on frame in the calling thread's
// network namespace.
func runUplink(t *testing.T, d *Datapath, frame []byte) runResult {
	t.Helper()
	return runProgram(t, d.objects.DirectorUplink, frame)
}

func runProgram(t *testing.T, program *ebpf.Program, frame []byte) runResult {
	t.Helper()
	out := make([]byte, len(frame)+256)
	verdict, err := program.Run(&ebpf.RunOptions{Data: frame, DataOut: out})
	if err != nil {
		t.Fatalf("run the program on a crafted packet: %v", err)
	}
	return runResult{verdict: int32(verdict), out: out[:len(frame)]}
}

// requireUntouched checks that the program let the packet go on unchanged.
func requireUntouched(t *testing.T, frame []byte, r runResult) {
	t.Helper()
	if r.verdict != verdictNext {
		t.Errorf("verdict %d, want %d (next)", r.verdict, verdictNext)
	}
	if !bytes.Equal(r.out, frame) {
		t.Errorf("the packet changed:\n got %x\nwant %x", r.out, frame)
	}
}

// requireTunnelled checks that the program redirected the packet with the
// tunnel MAC as its destination and nothing else changed.
func requireTunnelled(t *testing.T, frame []byte, r runResult) {
	t.Helper()
	requireTunnelledWith(t, testTunnelMAC, frame, r)
}

// requireTunnelledWith is requireTunnelled for a tunnel with that MAC.
func requireTunnelledWith(t *testing.T, mac []byte, frame []byte, r runResult) {
	t.Helper()
	if r.verdict != verdictRedirect {
		t.Errorf("verdict %d, want %d (redirect)", r.verdict, verdictRedirect)
	}
	want := append(append([]byte{}, mac...), frame[6:]...)
	if !bytes.Equal(r.out, want) {
		t.Errorf("the forwarded packet is not the packet with the tunnel MAC as destination:\n got %x\nwant %x", r.out, want)
	}
}

func readCounters(t *testing.T, d *Datapath) Counters {
	t.Helper()
	c, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// requireCounters compares the counters with want, taking a nil Sent as
// no packet sent to any node.
func requireCounters(t *testing.T, d *Datapath, want Counters) {
	t.Helper()
	got := readCounters(t, d)
	if want.Sent == nil {
		want.Sent = map[NodeID]Sent{}
	}
	if !countersEqual(got, want) {
		t.Errorf("counters\n got %+v\nwant %+v", got, want)
	}
}

func countersEqual(a, b Counters) bool {
	return maps.Equal(a.Sent, b.Sent) &&
		a.PassedSYN == b.PassedSYN && a.PassedConntrack == b.PassedConntrack &&
		a.PassedHop2 == b.PassedHop2 && a.PassedNoState == b.PassedNoState &&
		a.SecondChances == b.SecondChances && a.NoOwner == b.NoOwner &&
		a.LeaseExpired == b.LeaseExpired
}
