// Package directortest is the conformance suite every director.Datapath
// passes: the in-memory fake and the kernel datapath alike.
package directortest

import (
	"context"
	"net/netip"
	"testing"

	"github.com/bgplb/bgplb/internal/director"
)

// Run runs the suite against datapaths that open returns, a fresh one for
// each test. The datapath is closed by the suite or by open's cleanup.
func Run(t *testing.T, open func(t *testing.T) director.Datapath) {
	t.Run("a plan, another, the same again and an empty one apply", func(t *testing.T) {
		dp := open(t)
		for _, plan := range []director.Plan{plan(t, "a", "b"), plan(t, "a", "b", "c"), plan(t, "a", "b", "c"), {}} {
			if err := dp.Apply(context.Background(), director.ApplyRequest{Plan: plan, Self: "a"}); err != nil {
				t.Fatalf("Apply: %v", err)
			}
		}
	})
	t.Run("counters start at nothing, with maps to read", func(t *testing.T) {
		dp := open(t)
		c, err := dp.Counters(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if c.Forwarded == nil || c.SecondChances == nil || c.Local != 0 || c.NoOwner != 0 || len(c.Forwarded) != 0 {
			t.Errorf("counters of a new datapath: %+v", c)
		}
	})
	t.Run("a cancelled context applies nothing", func(t *testing.T) {
		dp := open(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := dp.Apply(ctx, director.ApplyRequest{Plan: plan(t, "a"), Self: "a"}); err == nil {
			t.Error("Apply with a cancelled context succeeded")
		}
		if _, err := dp.Counters(ctx); err == nil {
			t.Error("Counters with a cancelled context succeeded")
		}
	})
	t.Run("a closed datapath refuses work", func(t *testing.T) {
		dp := open(t)
		if err := dp.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		refusesWork(t, dp)
	})
	t.Run("a datapath left to a successor refuses work", func(t *testing.T) {
		dp := open(t)
		if err := dp.Apply(context.Background(), director.ApplyRequest{Plan: plan(t, "a", "b"), Self: "a"}); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if err := dp.Leave(); err != nil {
			t.Fatalf("Leave: %v", err)
		}
		refusesWork(t, dp)
	})
}

// refusesWork checks that a datapath closed or left does nothing more.
func refusesWork(t *testing.T, dp director.Datapath) {
	t.Helper()
	if err := dp.Apply(context.Background(), director.ApplyRequest{Plan: plan(t, "a"), Self: "a"}); err == nil {
		t.Error("Apply succeeded")
	}
	if _, err := dp.Counters(context.Background()); err == nil {
		t.Error("Counters succeeded")
	}
}

// plan is the plan of one Service served by nodes, each at its own tunnel
// address.
func plan(t *testing.T, nodes ...string) director.Plan {
	t.Helper()
	var in []director.Node
	for i, name := range nodes {
		in = append(in, director.Node{Name: name, Ready: true, TunnelAddress: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}),
			Roles: map[string]director.Role{"ns/web": director.Serving}})
	}
	p, err := director.Build(in, []director.Service{{Key: "ns/web", Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("2001:db8::1")}}}, 65521)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
