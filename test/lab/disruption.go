package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A disruption harness measures what a routing event does to traffic: it
// keeps many established connections busy through the event and keeps
// opening new ones, then says which connections survived, which were reset
// (re-hashed to a node with no state for them) and which hung (their path
// went away), and when new connections failed.

// Defaults and limits of DisruptionConfig.
const (
	// DefaultDisruptionConns is how many connections a harness keeps open
	// unless told otherwise.
	DefaultDisruptionConns = 1000
	// DefaultDisruptionInterval is how often each connection exchanges data
	// unless told otherwise.
	DefaultDisruptionInterval = 40 * time.Millisecond
	// MaxDisruptionInterval is the longest allowed gap between two
	// exchanges on a connection: an idle connection does not notice a
	// transient re-hash that a busy one is reset by (DESIGN.md).
	MaxDisruptionInterval = 50 * time.Millisecond
	// DefaultDisruptionHangAfter is how long an echo may take before the
	// connection counts as hung unless told otherwise.
	DefaultDisruptionHangAfter = time.Second
	// DefaultDisruptionProbeEvery is how often a new connection is tried
	// unless told otherwise.
	DefaultDisruptionProbeEvery = 20 * time.Millisecond
)

const (
	// disruptionOpenParallelism bounds the connections opened at once:
	// every dial holds an OS thread switched into the client namespace.
	disruptionOpenParallelism = 32
	// disruptionOpenTimeout bounds reading a node's name while opening;
	// opening happens before the event, so it is generous rather than a
	// measurement.
	disruptionOpenTimeout = 5 * time.Second
	// disruptionPayloadSize is one message: the connection's index and a
	// sequence number, so every message on every connection is unique and
	// a stray or stale echo cannot pass for the expected one.
	disruptionPayloadSize = 16
)

// DisruptionConfig says what traffic a harness sends.
type DisruptionConfig struct {
	// Addr is the Service address; connections go to its ResponderPort.
	Addr netip.Addr
	// Conns is how many long-lived connections to keep busy (default
	// DefaultDisruptionConns).
	Conns int
	// Interval is how often each connection sends a message and waits for
	// its echo (default DefaultDisruptionInterval). It must not exceed
	// MaxDisruptionInterval, so every connection exchanges data at least
	// every 50 ms and notices even a short re-hash.
	Interval time.Duration
	// HangAfter is how long an echo, or a new connection's greeting, may
	// take before the connection counts as hung or the probe as failed
	// (default DefaultDisruptionHangAfter).
	HangAfter time.Duration
	// ProbeEvery is how often a new short connection is tried (default
	// DefaultDisruptionProbeEvery), to measure how long new connections
	// fail during an event.
	ProbeEvery time.Duration
}

// withDefaults fills in defaults and rejects settings that would make the
// measurement meaningless.
func (c DisruptionConfig) withDefaults() (DisruptionConfig, error) {
	if !c.Addr.IsValid() {
		return c, errors.New("disruption config: no address")
	}
	if c.Conns < 0 {
		return c, fmt.Errorf("disruption config: %d connections", c.Conns)
	}
	if c.Conns == 0 {
		c.Conns = DefaultDisruptionConns
	}
	if c.Interval > MaxDisruptionInterval {
		return c, fmt.Errorf("disruption config: interval %s is longer than %s, so a short re-hash could go unnoticed", c.Interval, MaxDisruptionInterval)
	}
	if c.Interval <= 0 {
		c.Interval = DefaultDisruptionInterval
	}
	if c.HangAfter <= 0 {
		c.HangAfter = DefaultDisruptionHangAfter
	}
	if c.ProbeEvery <= 0 {
		c.ProbeEvery = DefaultDisruptionProbeEvery
	}
	return c, nil
}

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

// DisruptionProgress is a live view of a running harness, for tests that
// wait until enough traffic has flowed rather than sleeping.
type DisruptionProgress struct {
	Echoes        int64
	Broken        int
	ProbeAttempts int
	ProbeFailures int
}

// Disruption is running disruption traffic; Stop ends it and reports.
type Disruption struct {
	cfg     DisruptionConfig
	lab     *Lab
	target  netip.AddrPort
	conns   []*disruptedConn
	started time.Time

	stop chan struct{}
	// wg counts every goroutine of the harness: one per connection, the
	// probe loop and each probe attempt.
	wg     sync.WaitGroup
	echoes atomic.Int64
	broken atomic.Int64

	probeMu sync.Mutex
	probe   ProbeReport

	stopOnce sync.Once
	report   DisruptionReport
}

// disruptedConn is one long-lived connection. Only its own goroutine
// writes outcome, at and err, and Stop reads them after that goroutine
// ended.
type disruptedConn struct {
	c       net.Conn
	node    string
	outcome Outcome
	at      time.Time
	err     error
}

// StartDisruption opens cfg.Conns connections from the client namespace to
// cfg.Addr, learns which node each is bound to, and starts keeping them
// busy and probing with new connections until Stop. ctx bounds only the
// opening; the traffic runs until Stop. If any connection cannot be
// opened, every connection already open is closed and the error returned.
func (l *Lab) StartDisruption(ctx context.Context, cfg DisruptionConfig) (*Disruption, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	target := netip.AddrPortFrom(cfg.Addr, ResponderPort)
	conns, err := l.openDisruptionConns(ctx, target, cfg.Conns)
	if err != nil {
		return nil, fmt.Errorf("start disruption traffic to %s: %w", target, err)
	}
	d := &Disruption{
		cfg:    cfg,
		lab:    l,
		target: target,
		conns:  conns,
		stop:   make(chan struct{}),
		probe:  ProbeReport{PerNode: map[string]int{}},
	}
	d.started = time.Now()
	for i, dc := range conns {
		// Spreading the first exchanges evenly over one interval keeps the
		// connections from sending in lockstep, which would load the
		// machine in bursts and leave gaps no connection covers.
		offset := cfg.Interval * time.Duration(i) / time.Duration(len(conns))
		d.wg.Add(1)
		go d.exchange(i, dc, offset)
	}
	d.wg.Add(1)
	go d.probeLoop()
	return d, nil
}

// openDisruptionConns opens n connections, a bounded number at a time
// because each dial holds an OS thread in the client namespace. On error it
// closes what it opened.
func (l *Lab) openDisruptionConns(parent context.Context, target netip.AddrPort, n int) ([]*disruptedConn, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	conns := make([]*disruptedConn, n)
	var (
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	next := make(chan int)
	for range min(disruptionOpenParallelism, n) {
		wg.Go(func() {
			for i := range next {
				c, node, err := l.openDisruptionConn(ctx, target)
				if err != nil {
					errOnce.Do(func() {
						firstErr = fmt.Errorf("open connection %d of %d: %w", i+1, n, err)
						cancel()
					})
					continue
				}
				conns[i] = &disruptedConn{c: c, node: node}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil && parent.Err() != nil {
		firstErr = fmt.Errorf("open connections: %w", parent.Err())
	}
	if firstErr != nil {
		for _, dc := range conns {
			if dc != nil {
				closeWithoutTimeWait(dc.c)
			}
		}
		return nil, firstErr
	}
	return conns, nil
}

// openDisruptionConn opens one connection and reads the name of the node
// that answered it.
func (l *Lab) openDisruptionConn(ctx context.Context, target netip.AddrPort) (net.Conn, string, error) {
	c, err := l.Dial(ctx, target)
	if err != nil {
		return nil, "", fmt.Errorf("dial: %w", err)
	}
	deadline := time.Now().Add(disruptionOpenTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	a, err := readAnswer(c, deadline)
	if err != nil {
		closeWithoutTimeWait(c)
		return nil, "", err
	}
	return c, a.Node, nil
}

// closeWithoutTimeWait closes a harness connection with a reset, so the
// client keeps no TIME_WAIT socket for it. The lab router hashes the
// 5-tuple, so a source port always leads to the same next hop, and the
// ports a harness gets are those the client does not hold in TIME_WAIT.
// After an event, the ports held would be those of the connections that
// survived it, which all hashed to some next hops and not others, and a
// harness started within TIME_WAIT's minute would put fewer connections
// on those next hops. In test/e2e/whatif_test.go, the removal of one of
// two next hops, which moves half the connections, broke 44% and 43% of
// them when it came right after other changes.
func closeWithoutTimeWait(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// exchange keeps one connection busy: after offset, every Interval it
// sends a unique message and waits up to HangAfter for the echo. It ends
// at Stop or at the connection's first failure, which it records.
func (d *Disruption) exchange(i int, dc *disruptedConn, offset time.Duration) {
	defer d.wg.Done()
	start := time.NewTimer(offset)
	select {
	case <-d.stop:
		start.Stop()
		return
	case <-start.C:
	}
	tick := time.NewTicker(d.cfg.Interval)
	defer tick.Stop()
	var out, in [disruptionPayloadSize]byte
	binary.BigEndian.PutUint64(out[:8], uint64(i))
	for seq := uint64(0); ; seq++ {
		binary.BigEndian.PutUint64(out[8:], seq)
		sent := time.Now()
		// One deadline covers the write and the echo: a write only blocks
		// once the send buffer is full, which a hung connection also is.
		if err := dc.c.SetDeadline(sent.Add(d.cfg.HangAfter)); err != nil {
			d.fail(dc, Reset, time.Now(), fmt.Errorf("set deadline: %w", err))
			return
		}
		if _, err := dc.c.Write(out[:]); err != nil {
			d.failOn(dc, sent, fmt.Errorf("write message %d: %w", seq, err))
			return
		}
		if _, err := io.ReadFull(dc.c, in[:]); err != nil {
			d.failOn(dc, sent, fmt.Errorf("read echo of message %d: %w", seq, err))
			return
		}
		if in != out {
			d.fail(dc, Reset, time.Now(), fmt.Errorf("wrong echo of message %d: got %x, want %x", seq, in, out))
			return
		}
		d.echoes.Add(1)
		select {
		case <-d.stop:
			return
		case <-tick.C:
		}
	}
}

// failOn classifies an I/O error: a missed deadline means the echo never
// came (Hung, from when the message was sent); anything else is an answer
// from the network that the connection is gone (Reset, from now).
func (d *Disruption) failOn(dc *disruptedConn, sent time.Time, err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		d.fail(dc, Hung, sent, err)
		return
	}
	d.fail(dc, Reset, time.Now(), err)
}

func (d *Disruption) fail(dc *disruptedConn, o Outcome, at time.Time, err error) {
	dc.outcome, dc.at, dc.err = o, at, err
	d.broken.Add(1)
}

// probeLoop starts a probe every ProbeEvery. Each probe runs on its own
// goroutine so that a hanging probe does not delay the next: the failure
// window stays as fine-grained as ProbeEvery.
func (d *Disruption) probeLoop() {
	defer d.wg.Done()
	tick := time.NewTicker(d.cfg.ProbeEvery)
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-tick.C:
		}
		d.wg.Add(1)
		go d.probeOnce()
	}
}

// probeOnce opens a new connection, reads the node's name and closes it,
// all within HangAfter.
func (d *Disruption) probeOnce() {
	defer d.wg.Done()
	began := time.Now()
	d.probeMu.Lock()
	d.probe.Attempts++
	d.probeMu.Unlock()

	node, err := d.probeConn(began.Add(d.cfg.HangAfter))

	d.probeMu.Lock()
	defer d.probeMu.Unlock()
	if err == nil {
		d.probe.PerNode[node]++
		return
	}
	d.probe.Failures++
	if d.probe.FirstFailure.IsZero() || began.Before(d.probe.FirstFailure) {
		d.probe.FirstFailure = began
		d.probe.FirstError = err.Error()
	}
	if began.After(d.probe.LastFailure) {
		d.probe.LastFailure = began
	}
}

func (d *Disruption) probeConn(deadline time.Time) (string, error) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	c, err := d.lab.Dial(ctx, d.target)
	if err != nil {
		return "", fmt.Errorf("probe dial: %w", err)
	}
	defer closeWithoutTimeWait(c)
	a, err := readAnswer(c, deadline)
	if err != nil {
		return "", fmt.Errorf("probe: %w", err)
	}
	return a.Node, nil
}

// Bound returns how many connections each node answered when they were
// opened.
func (d *Disruption) Bound() map[string]int {
	bound := map[string]int{}
	for _, dc := range d.conns {
		bound[dc.node]++
	}
	return bound
}

// Progress says how much traffic has flowed so far.
func (d *Disruption) Progress() DisruptionProgress {
	d.probeMu.Lock()
	defer d.probeMu.Unlock()
	return DisruptionProgress{
		Echoes:        d.echoes.Load(),
		Broken:        int(d.broken.Load()),
		ProbeAttempts: d.probe.Attempts,
		ProbeFailures: d.probe.Failures,
	}
}

// Stop ends the traffic and the probe, closes every connection, waits for
// every goroutine of the harness and returns the report. An exchange or
// probe in flight is allowed to finish, so a connection that was hanging
// when Stop was called is still counted as Hung; Stop therefore takes up
// to HangAfter. Calling Stop again returns the same report.
func (d *Disruption) Stop() DisruptionReport {
	d.stopOnce.Do(func() {
		close(d.stop)
		d.wg.Wait()
		stopped := time.Now()
		for _, dc := range d.conns {
			closeWithoutTimeWait(dc.c)
		}
		d.report = d.buildReport(stopped)
	})
	return d.report
}

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
