package e2e

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/ecmp"
	"github.com/bgplb/bgplb/test/lab"
)

// whatIfTolerance is how far the estimator's share may be from the share
// measured through the router.
const whatIfTolerance = 0.05

// whatIfConns is how many busy connections each measurement keeps open.
const whatIfConns = 1000

// excludeLabel withdraws a node's paths while the node keeps answering.
const excludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

// whatIfMode is one way the lab router spreads flows, and the estimator
// model and options that describe it.
type whatIfMode struct {
	name    string
	hashing string
	opts    lab.ResilientOptions
	model   ecmp.Model
	ecmp    ecmp.Options
}

// whatIfSize is one announcing set size and which next hop, by position in
// the router's order, is removed from it.
type whatIfSize struct {
	k      int
	remove string // "first", "middle" or "last"
}

// whatIfResult is one measured change.
type whatIfResult struct {
	mode, change  string
	before, after []string
	predicted     ecmp.Estimate
	measured      float64
	broken, conns int
	bucketsBefore map[string]int
	bucketsAfter  map[string]int
}

// The estimator's prediction is within 5 percentage points of the share
// measured through the lab router, for removal and addition of a next hop
// among 2 to 8 nodes, in both hashing modes. Each case keeps 1,000
// connections busy through one change of the announcing set (a node
// labelled as excluded withdraws its path but keeps answering, so a
// connection breaks only if the router moves it) and compares the broken
// share with ecmp.WhatIf for the next hops in the kernel's order before
// and after. The resilient mode runs twice: with the kernel's default idle
// timer (an addition moves nothing) and with idle timer 0 (an addition
// moves buckets at once, the estimator's IdleMigration). Additions start
// from two next hops or more: a one-hop resilient group records no
// traffic on its buckets and moves them at once whatever the idle timer
// (see test/lab/resilient.go).
func TestTheEstimatorPredictsTheShareOfConnectionsTheRouterMoves(t *testing.T) {
	started := time.Now()
	l := startLabWith(t, lab.Config{Nodes: 8})
	configure(t, l, v1alpha1.BGPAdvertisementSpec{})
	addr := announcedEverywhere(t, l, "whatif")

	modes := []whatIfMode{
		{name: "hash-threshold", hashing: lab.HashThreshold, model: ecmp.HashThreshold},
		{name: "resilient, idle timer 120s", hashing: lab.Resilient, model: ecmp.Resilient,
			ecmp: ecmp.Options{Buckets: lab.DefaultResilientBuckets}},
		{name: "resilient, idle timer 0", hashing: lab.Resilient, opts: lab.ResilientOptions{IdleTimer: ptr.To(time.Duration(0))},
			model: ecmp.Resilient, ecmp: ecmp.Options{Buckets: lab.DefaultResilientBuckets, IdleMigration: true}},
	}
	sizes := []whatIfSize{{8, "middle"}, {5, "first"}, {3, "last"}, {2, "first"}}
	var results []whatIfResult
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			if err := l.SetRouterHashing(mode.hashing, mode.opts); err != nil {
				t.Fatal(err)
			}
			for _, size := range sizes {
				results = append(results, measureWhatIf(t, l, addr, mode, size)...)
			}
		})
	}

	// Back in hash-threshold mode, FRR's own route forwards again and
	// nothing of the resilient groups is left in the router.
	if err := l.SetRouterHashing(lab.HashThreshold, lab.ResilientOptions{}); err != nil {
		t.Error(err)
	}
	if route, ok, err := l.ForwardingRoute(hostPrefix(addr)); err != nil || !ok || route.Protocol != "bgp" {
		t.Errorf("after leaving resilient mode the route to %s is %+v (%v, %v), want FRR's", addr, route, ok, err)
	}
	out, err := exec.Command("ip", "-n", l.Prefix+"-router", "nexthop", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip nexthop show: %v: %s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" && !strings.HasSuffix(strings.TrimSpace(line), "proto zebra") {
			t.Errorf("after leaving resilient mode the router still has nexthop %q", line)
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%-27s %-22s %9s %9s %6s  %s\n", "mode", "change", "predicted", "measured", "broken", "router order before -> after")
	for _, r := range results {
		fmt.Fprintf(&b, "%-27s %-22s %8.1f%% %8.1f%% %6d  %s -> %s\n", r.mode, r.change, 100*r.predicted.Moved, 100*r.measured, r.broken,
			strings.Join(r.before, ","), strings.Join(r.after, ","))
	}
	t.Logf("%d changes in %.0fs:\n%s", len(results), time.Since(started).Seconds(), b.String())
}

// measureWhatIf measures, from a set of the first size.k nodes, the
// addition of one more node (k -> k+1) and the removal of one (k -> k-1);
// with all nodes announcing, the removal and then the addition of the
// removed node (k-1 -> k) instead.
func measureWhatIf(t *testing.T, l *lab.Lab, addr netip.Addr, mode whatIfMode, size whatIfSize) []whatIfResult {
	t.Helper()
	set := allNodes(l)[:size.k]
	setAnnouncing(t, l, addr, set)
	if mode.hashing == lab.Resilient {
		// The changes that built this set leave a resilient group's buckets
		// unbalanced (with a long idle timer, an added next hop holds
		// none); the estimator starts from a balanced group, as the
		// kernel builds a new one.
		if err := l.SetRouterHashing(mode.hashing, mode.opts); err != nil {
			t.Fatal(err)
		}
	}
	if got := routerOrder(t, l, addr); !sameMembers(got, set) {
		t.Fatalf("the router forwards to %v, want %v", got, set)
	}
	var results []whatIfResult
	if size.k < len(l.Nodes) {
		added := l.Nodes[size.k].Name
		results = append(results, measureChange(t, l, addr, mode, fmt.Sprintf("%d->%d, %s", size.k, size.k+1, added),
			added, false, append(slices.Clone(set), added)))
		// Taking it out again balances the group as it was: with the long
		// idle timer the added next hop holds no bucket, with idle timer
		// 0 its buckets go back to the next hops they came from (the next
		// measurement checks).
		setAnnouncing(t, l, addr, set)
	}

	before := routerOrder(t, l, addr)
	var victim string
	switch size.remove {
	case "first":
		victim = before[0]
	case "middle":
		victim = before[len(before)/2]
	case "last":
		victim = before[len(before)-1]
	}
	rest := slices.DeleteFunc(slices.Clone(set), func(n string) bool { return n == victim })
	results = append(results, measureChange(t, l, addr, mode, fmt.Sprintf("%d->%d, %s (%s)", size.k, size.k-1, victim, size.remove),
		victim, true, rest))
	if size.k == len(l.Nodes) {
		results = append(results, measureChange(t, l, addr, mode, fmt.Sprintf("%d->%d, %s", size.k-1, size.k, victim),
			victim, false, set))
	}
	return results
}

// measureChange keeps whatIfConns connections busy while node stops (or
// starts) announcing, and compares the share that broke with the
// estimate for the router's next hops before and after.
func measureChange(t *testing.T, l *lab.Lab, addr netip.Addr, mode whatIfMode, change, node string, exclude bool, wantAfter []string) whatIfResult {
	t.Helper()
	r := whatIfResult{mode: mode.name, change: change}
	r.before = routerOrder(t, l, addr)
	if mode.hashing == lab.Resilient {
		r.bucketsBefore = resilientBuckets(t, l, addr)
		if !balanced(r.bucketsBefore, lab.DefaultResilientBuckets) {
			t.Fatalf("%s: the resilient group is not balanced before the change: %v", change, r.bucketsBefore)
		}
	}

	d := startDisruption(t, l, addr, whatIfConns)
	keepTraffic(t, d, 200*time.Millisecond)
	if p := d.Progress(); p.Broken != 0 {
		t.Fatalf("%s: %d connections broke before the change", change, p.Broken)
	}
	label := ""
	if exclude {
		label = "true"
	}
	setNodeLabel(t, l, node, excludeLabel, label)
	waitForNextHopsWithin(t, l, addr, 30*time.Second, wantAfter...)
	r.after = routerOrder(t, l, addr)
	keepTraffic(t, d, time.Second)
	if mode.hashing == lab.Resilient {
		// Read while the connections are still busy: with a long idle
		// timer an added next hop holds no bucket as long as they are.
		r.bucketsAfter = resilientBuckets(t, l, addr)
	}
	report := d.Stop()
	stale := closeStaleConns(t, l)
	r.broken, r.conns = report.Broken(), report.Total.Conns
	if r.conns != whatIfConns {
		t.Fatalf("%s: the harness kept %d connections, want %d", change, r.conns, whatIfConns)
	}
	r.measured = float64(r.broken) / float64(r.conns)

	var err error
	r.predicted, err = ecmp.WhatIf(mode.model, nextHops(r.before), nextHops(r.after), mode.ecmp)
	if err != nil {
		t.Fatalf("%s: %v", change, err)
	}
	t.Logf("%s: predicted %.1f%% (lost %.1f%%, rehashed %.1f%%), measured %.1f%% (%d of %d, %d left stale); router order %v -> %v; buckets %v -> %v\n%s",
		change, 100*r.predicted.Moved, 100*r.predicted.Lost, 100*r.predicted.Rehashed, 100*r.measured, r.broken, r.conns, stale,
		r.before, r.after, r.bucketsBefore, r.bucketsAfter, report)
	if diff := math.Abs(r.measured - r.predicted.Moved); diff > whatIfTolerance {
		t.Errorf("%s: the estimator predicted %.1f%% of connections to move, the router moved %.1f%% (%d of %d); %.1f points apart, more than %.0f",
			change, 100*r.predicted.Moved, 100*r.measured, r.broken, r.conns, 100*diff, 100*whatIfTolerance)
	}
	if mode.hashing == lab.Resilient && !exclude {
		// What the estimator's idle migration option stands for: whether
		// an added next hop gets its share of buckets while every bucket
		// is busy.
		got := r.bucketsAfter[node]
		if mode.ecmp.IdleMigration && !balanced(r.bucketsAfter, lab.DefaultResilientBuckets) {
			t.Errorf("%s: with idle timer 0 the group is not balanced after the addition: %v", change, r.bucketsAfter)
		}
		// A bucket that no connection hashed to is idle, and the kernel
		// may give it to the new next hop (1,000 flows leave one of 128
		// buckets empty about once in twenty groups): what the idle timer
		// promises is that no busy bucket moves, so no connection breaks.
		if !mode.ecmp.IdleMigration && got != 0 && r.broken > 0 {
			t.Errorf("%s: %s got %d buckets and %d connections broke while every bucket was busy; the idle timer should keep busy buckets where they are", change, node, got, r.broken)
		}
	}
	return r
}

// setAnnouncing labels every node outside names as excluded and clears the
// label of the nodes in names, then waits until the router forwards to
// exactly names.
func setAnnouncing(t *testing.T, l *lab.Lab, addr netip.Addr, names []string) {
	t.Helper()
	for _, n := range l.Nodes {
		var node corev1.Node
		if err := l.Client.Get(context.Background(), client.ObjectKey{Name: n.Name}, &node); err != nil {
			t.Fatal(err)
		}
		_, excluded := node.Labels[excludeLabel]
		switch announce := slices.Contains(names, n.Name); {
		case announce && excluded:
			setNodeLabel(t, l, n.Name, excludeLabel, "")
		case !announce && !excluded:
			setNodeLabel(t, l, n.Name, excludeLabel, "true")
		}
	}
	waitForNextHopsWithin(t, l, addr, 30*time.Second, names...)
}

// routerOrder returns the nodes the router forwards addr to, in the
// kernel's order of the forwarding route's next hops.
func routerOrder(t *testing.T, l *lab.Lab, addr netip.Addr) []string {
	t.Helper()
	route, ok, err := l.ForwardingRoute(hostPrefix(addr))
	if err != nil || !ok {
		t.Fatalf("the router has no route to %s (%v)", addr, err)
	}
	var names []string
	for _, nh := range route.NextHops {
		if nh.Weight != 1 {
			t.Fatalf("next hop %s has weight %d; this test announces no weights", nh.Gateway, nh.Weight)
		}
		names = append(names, nodeByAddr(t, l, nh.Gateway))
	}
	return names
}

// nextHops turns node names in router order into the estimator's input.
func nextHops(names []string) []ecmp.NextHop {
	var out []ecmp.NextHop
	for _, n := range names {
		out = append(out, ecmp.NextHop{Name: n, Weight: 1})
	}
	return out
}

// resilientBuckets returns the buckets per node of the resilient group
// that forwards addr.
func resilientBuckets(t *testing.T, l *lab.Lab, addr netip.Addr) map[string]int {
	t.Helper()
	byGateway, err := l.ResilientBuckets(hostPrefix(addr))
	if err != nil {
		t.Fatalf("the router does not forward %s through a resilient group: %v", addr, err)
	}
	out := map[string]int{}
	for gw, n := range byGateway {
		out[nodeByAddr(t, l, gw)] = n
	}
	return out
}

// balanced says whether every member holds its share of the buckets, give
// or take the one the kernel's rounding moves.
func balanced(buckets map[string]int, total int) bool {
	if len(buckets) == 0 {
		return false
	}
	sum, lo, hi := 0, total, 0
	for _, n := range buckets {
		sum += n
		lo, hi = min(lo, n), max(hi, n)
	}
	return sum == total && hi-lo <= 1
}

func nodeByAddr(t *testing.T, l *lab.Lab, gateway string) string {
	t.Helper()
	for _, n := range l.Nodes {
		if n.Addr4.String() == gateway || n.Addr6.String() == gateway {
			return n.Name
		}
	}
	t.Fatalf("next hop %s is no node of the lab", gateway)
	return ""
}

func sameMembers(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// closeStaleConns closes the responders' connections that outlived the
// harness: a connection the router moved to another node was reset there,
// but the pod that served it still holds it open. The client reuses source
// ports soon (so many connections pass through these tests), and a new
// connection whose SYN meets such a stale socket waits for a
// retransmission and may time out.
func closeStaleConns(t *testing.T, l *lab.Lab) int {
	t.Helper()
	closed, err := l.CloseResponderConns()
	if err != nil {
		t.Fatal(err)
	}
	return closed
}
