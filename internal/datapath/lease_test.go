//go:build linux

package datapath

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/testpoll"
)

// A program acts only while its lease lasts: freshly loaded it has none,
// a renewal lets it forward, and once the lease is over it leaves every
// packet alone, counting each.
func TestTheProgramActsOnlyWhileItsLeaseLasts(t *testing.T) {
	d := loadWithoutLease(t, 1, 13)
	setup(t, d, serviceV4, uniformTable(13, Owners{Primary: 2, Secondary: 3}))
	forService := ethernet(tcpPacket(netip.AddrPortFrom(clientV4, 40000), netip.AddrPortFrom(serviceV4, 80), flagACK))
	other := ethernet(tcpPacket(netip.AddrPortFrom(clientV4, 40000), netip.AddrPortFrom(routerV4, 80), flagACK))

	requireUntouched(t, forService, runUplink(t, d, forService))
	requireCounters(t, d, Counters{LeaseExpired: 1})

	if err := d.RenewLease(time.Hour); err != nil {
		t.Fatal(err)
	}
	requireTunnelled(t, forService, runUplink(t, d, forService))
	requireCounters(t, d, Counters{LeaseExpired: 1, Sent: map[NodeID]Sent{2: {Hop1: 1}}})

	if err := d.RenewLease(0); err != nil {
		t.Fatal(err)
	}
	requireUntouched(t, forService, runUplink(t, d, forService))
	requireUntouched(t, other, runUplink(t, d, other))
	requireCounters(t, d, Counters{LeaseExpired: 3, Sent: map[NodeID]Sent{2: {Hop1: 1}}})
}

// A Node renews the lease by itself, between Applies.
func TestANodeRenewsItsLeaseOnItsOwn(t *testing.T) {
	ns := newNodeNetns(t)
	opts := nodeOptions(t)
	opts.Lease = 400 * time.Millisecond
	n := openNodeIn(t, ns, opts)
	applyPlan(t, n)
	applied := leaseOf(t, n.datapath)
	testpoll.Until(t, 10*time.Second, "a renewal after Apply's", func() (bool, string) {
		now := leaseOf(t, n.datapath)
		return now > applied, fmt.Sprintf("lease until %d ns, Apply's until %d ns", now, applied)
	})
}

// leaseOf reads until when the program may act, in CLOCK_MONOTONIC ns.
func leaseOf(t *testing.T, d *Datapath) uint64 {
	t.Helper()
	var until uint64
	if err := d.objects.Lease.Lookup(uint32(0), &until); err != nil {
		t.Fatal(err)
	}
	return until
}
