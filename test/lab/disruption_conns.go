package lab

// The connections of a disruption harness: the long-lived ones it keeps
// busy, and the short ones it probes with.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

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
