package lab

// What a disruption harness reports: each connection's outcome, counted
// per node, and the probes' new connections.

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Outcome is how one connection fared.
type Outcome int

// The outcomes of a connection. Each connection ends in exactly one.
const (
	// Intact: every echo came back correctly until Stop.
	Intact Outcome = iota
	// Reset: the connection failed with an error (ECONNRESET, EPIPE, EOF,
	// ...) or a wrong answer, which is what a re-hash to a node with no
	// socket for the connection looks like.
	Reset
	// Hung: an echo did not come back within HangAfter, which is what a
	// missing route or a dead node looks like.
	Hung
)

// String names the outcome for logs.
func (o Outcome) String() string {
	switch o {
	case Intact:
		return "intact"
	case Reset:
		return "reset"
	case Hung:
		return "hung"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// NodeCounts counts the connections bound to one node (or to all nodes)
// by outcome.
type NodeCounts struct {
	// Conns is how many connections the node answered when they were
	// opened. Every one of them ends in exactly one outcome, so it equals
	// Intact+Reset+Hung.
	Conns  int
	Intact int
	Reset  int
	Hung   int
}

// Broken is the number of connections that were reset or hung.
func (c NodeCounts) Broken() int { return c.Reset + c.Hung }

func (c *NodeCounts) count(o Outcome) {
	switch o {
	case Intact:
		c.Intact++
	case Reset:
		c.Reset++
	case Hung:
		c.Hung++
	}
}

func (c *NodeCounts) add(o NodeCounts) {
	c.Conns += o.Conns
	c.Intact += o.Intact
	c.Reset += o.Reset
	c.Hung += o.Hung
}

// ConnFailure records when and how one connection broke.
type ConnFailure struct {
	// Conn is the connection's index, 0 to Conns-1.
	Conn int
	// Node is the node the connection was bound to.
	Node    string
	Outcome Outcome
	// At is when the failure began: for Reset when the error or wrong
	// answer arrived, for Hung when the message that never got its echo
	// was sent (detection comes HangAfter later).
	At time.Time
	// Err says what went wrong.
	Err string
}

// ProbeReport is what the new-connection probe saw.
type ProbeReport struct {
	Attempts int
	Failures int
	// FirstFailure and LastFailure are when the first and the last failed
	// attempt began (zero without failures), so together they bracket the
	// time new connections could not be made.
	FirstFailure time.Time
	LastFailure  time.Time
	// FirstError is what the first failed attempt reported.
	FirstError string
	// PerNode counts the attempts each node answered.
	PerNode map[string]int
}

// DisruptionReport is what a harness measured between StartDisruption
// and Stop.
type DisruptionReport struct {
	Addr netip.Addr
	// Started is when traffic began (after every connection was open);
	// Stopped is when it ended.
	Started time.Time
	Stopped time.Time
	// Echoes counts the messages that came back correctly.
	Echoes int64
	// PerNode counts the connections of each node by outcome.
	PerNode map[string]NodeCounts
	// Total is the sum of PerNode.
	Total NodeCounts
	// Failures has one entry per broken connection, earliest first.
	Failures []ConnFailure
	Probe    ProbeReport
}

// Broken is the number of connections that were reset or hung.
func (r DisruptionReport) Broken() int { return r.Total.Broken() }

// String prints a compact table for test logs and benchmark reports: one
// line per node, the totals, then the probe. Times are relative to
// Started.
func (r DisruptionReport) String() string {
	var b strings.Builder
	rel := func(t time.Time) string { return fmt.Sprintf("+%.3fs", t.Sub(r.Started).Seconds()) }
	row := func(name string, c NodeCounts) {
		fmt.Fprintf(&b, "%-10s %6d %7d %6d %6d", name, c.Conns, c.Intact, c.Reset, c.Hung)
	}
	fmt.Fprintf(&b, "%-10s %6s %7s %6s %6s\n", "node", "conns", "intact", "reset", "hung")
	for _, name := range slices.Sorted(maps.Keys(r.PerNode)) {
		row(name, r.PerNode[name])
		b.WriteByte('\n')
	}
	row("total", r.Total)
	fmt.Fprintf(&b, "   %d echoes in %.1fs", r.Echoes, r.Stopped.Sub(r.Started).Seconds())
	if len(r.Failures) > 0 {
		fmt.Fprintf(&b, ", first failures %s..%s", rel(r.Failures[0].At), rel(r.Failures[len(r.Failures)-1].At))
	}
	b.WriteByte('\n')
	p := r.Probe
	fmt.Fprintf(&b, "%-10s %d attempts, %d failed", "probe", p.Attempts, p.Failures)
	if p.Failures > 0 {
		fmt.Fprintf(&b, " between %s and %s (first: %s)", rel(p.FirstFailure), rel(p.LastFailure), p.FirstError)
	}
	b.WriteString("; answered by")
	for _, name := range slices.Sorted(maps.Keys(p.PerNode)) {
		fmt.Fprintf(&b, " %s=%d", name, p.PerNode[name])
	}
	return b.String()
}

// buildReport counts the outcome of every connection once the harness
// has stopped.
func (d *Disruption) buildReport(stopped time.Time) DisruptionReport {
	r := DisruptionReport{
		Addr:    d.cfg.Addr,
		Started: d.started,
		Stopped: stopped,
		Echoes:  d.echoes.Load(),
		PerNode: map[string]NodeCounts{},
		Probe:   d.probe,
	}
	for i, dc := range d.conns {
		c := r.PerNode[dc.node]
		c.Conns++
		c.count(dc.outcome)
		r.PerNode[dc.node] = c
		if dc.outcome != Intact {
			r.Failures = append(r.Failures, ConnFailure{Conn: i, Node: dc.node, Outcome: dc.outcome, At: dc.at, Err: dc.err.Error()})
		}
	}
	for _, c := range r.PerNode {
		r.Total.add(c)
	}
	slices.SortFunc(r.Failures, func(a, b ConnFailure) int { return a.At.Compare(b.At) })
	return r
}
