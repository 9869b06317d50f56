package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// A disruption harness measures what a routing event does to traffic: it
// keeps many established connections busy through the event and keeps
// opening new ones, then says which connections survived, which were reset
// (re-hashed to a node with no state for them) and which hung (their path
// went away), and when new connections failed. This file holds its
// configuration and life; disruption_conns.go the connections and probes,
// disruption_report.go what it reports.

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
