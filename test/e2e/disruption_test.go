package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/testpoll"
	"github.com/bgplb/bgplb/test/lab"
)

// disruptionProbeEvery is the harness's probe interval in these tests; the
// tests measure how long traffic has flowed by counting probes.
const disruptionProbeEvery = 20 * time.Millisecond

// The disruption harness is what every resilience claim is measured with,
// so it must count nothing while routes are steady, and must count every
// connection whose node lost its path.
func TestTheDisruptionHarnessCountsOnlyRealBreakage(t *testing.T) {
	l := startLab(t, 3)
	configure(t, l, v1alpha1.BGPAdvertisementSpec{})
	ctx := context.Background()
	svc := createService(t, l, "disrupted", true)
	everyNode := map[string][]lab.EndpointState{"node-0": {lab.Ready}, "node-1": {lab.Ready}, "node-2": {lab.Ready}}
	if err := l.SetEndpoints(ctx, svc, everyNode); err != nil {
		t.Fatal(err)
	}
	addr := serviceAddrs(t, l, svc, 1)[0]
	waitForNextHops(t, l, addr, allNodes(l)...)

	// Phase 1: steady routes break nothing.
	const conns = 300
	d := startDisruption(t, l, addr, conns)
	keepTraffic(t, d, 2*time.Second)
	steady := d.Stop()
	t.Logf("steady routes:\n%s", steady)
	if steady.Broken() != 0 {
		t.Errorf("%d connections broke while the routes were steady: %+v", steady.Broken(), steady.Failures)
	}
	if steady.Total.Conns != conns || steady.Total.Intact != conns {
		t.Errorf("steady routes: %d connections, %d intact; want %d of each", steady.Total.Conns, steady.Total.Intact, conns)
	}
	for _, n := range allNodes(l) {
		if got := steady.PerNode[n].Conns; got < conns/6 {
			t.Errorf("%s was bound to %d of %d connections; the router should spread them over every node", n, got, conns)
		}
	}
	if steady.Probe.Attempts == 0 || steady.Probe.Failures != 0 {
		t.Errorf("steady routes: the probe failed %d of %d attempts (first: %s)", steady.Probe.Failures, steady.Probe.Attempts, steady.Probe.FirstError)
	}
	if len(steady.Probe.PerNode) != len(l.Nodes) {
		t.Errorf("new connections reached only %v", steady.Probe.PerNode)
	}

	// Phase 2: node-2 loses its only endpoint, so with the Local policy
	// it withdraws its path and the router re-hashes node-2's connections
	// to nodes that have no socket for them.
	d = startDisruption(t, l, addr, conns)
	bound := d.Bound()
	if bound["node-2"] == 0 {
		t.Fatalf("no connection is bound to node-2, so its withdrawal proves nothing: %v", bound)
	}
	moved := time.Now()
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}, "node-1": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	waitForNextHopsWithin(t, l, addr, 30*time.Second, "node-0", "node-1")
	t.Logf("the router dropped node-2 %.2fs after its endpoint moved", time.Since(moved).Seconds())
	keepTraffic(t, d, 2*time.Second)
	report := d.Stop()
	t.Log(report.String())

	if report.Broken() == 0 {
		t.Error("no connection broke although node-2's path was withdrawn")
	}
	if got := report.PerNode["node-2"]; got.Intact != 0 || got.Broken() != bound["node-2"] {
		t.Errorf("node-2 had %d connections; %d stayed intact and %d broke, want all broken", bound["node-2"], got.Intact, got.Broken())
	}
	total := 0
	for node, n := range bound {
		got := report.PerNode[node]
		if got.Conns != n || got.Intact+got.Reset+got.Hung != n {
			t.Errorf("%s: bound %d connections, report has %d (%d intact + %d reset + %d hung)", node, n, got.Conns, got.Intact, got.Reset, got.Hung)
		}
		total += n
	}
	if total != conns || report.Total.Conns != conns || len(report.PerNode) != len(bound) {
		t.Errorf("bound %d connections over %v, report counts %d over %d nodes; want %d", total, bound, report.Total.Conns, len(report.PerNode), conns)
	}
	if len(report.Failures) != report.Broken() {
		t.Errorf("%d failure times for %d broken connections", len(report.Failures), report.Broken())
	}
	for _, f := range report.Failures {
		if f.At.Before(moved) {
			t.Errorf("connection %d on %s counted as %s at %s, before the endpoint moved: %s", f.Conn, f.Node, f.Outcome, f.At.Format(time.StampMicro), f.Err)
		}
	}
}

// startDisruption starts the harness on addr and stops it when the test
// ends, so no traffic outlives a failed test.
func startDisruption(t *testing.T, l *lab.Lab, addr netip.Addr, conns int) *lab.Disruption {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := l.StartDisruption(ctx, lab.DisruptionConfig{Addr: addr, Conns: conns, ProbeEvery: disruptionProbeEvery})
	if err != nil {
		t.Fatalf("start disruption harness: %v", err)
	}
	t.Cleanup(func() { d.Stop() })
	return d
}

// keepTraffic returns once the harness has run about d longer, measured by
// the probes it started rather than by the clock, so a slow machine gets as
// much traffic as a fast one.
func keepTraffic(t *testing.T, dis *lab.Disruption, d time.Duration) {
	t.Helper()
	want := dis.Progress().ProbeAttempts + int(d/disruptionProbeEvery)
	testpoll.Until(t, 10*d+30*time.Second, fmt.Sprintf("the probe makes %d attempts", want), func() (bool, string) {
		p := dis.Progress()
		return p.ProbeAttempts >= want, fmt.Sprintf("%+v", p)
	})
}
