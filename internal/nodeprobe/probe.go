// Package nodeprobe tells which of a set of nodes answer ICMP echo
// requests. The director uses it to stop forwarding to a node that died:
// a node's kernel answers pings whatever its speaker does, so a speaker
// restart never looks like a dead node, while a crash or a cut link does
// within a second.
package nodeprobe

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Defaults of Options.
const (
	DefaultInterval = 100 * time.Millisecond
	DefaultMisses   = 5
)

// Options tune a Prober.
type Options struct {
	// Interval is the time between two echo requests to a node; zero
	// means DefaultInterval.
	Interval time.Duration
	// Misses is how many requests in a row a node may leave unanswered
	// before it is unreachable; zero means DefaultMisses.
	Misses int
}

// Prober sends echo requests to its targets and keeps, per target, when it
// last answered. Run owns the sockets; SetTargets and Unreachable may be
// called from any goroutine.
type Prober struct {
	interval time.Duration
	misses   int
	id       int
	changes  chan struct{}

	// started is closed by the first SetTargets with a target: Run opens
	// its sockets only once there is something to probe.
	started     chan struct{}
	startedOnce sync.Once

	mu      sync.Mutex
	err     error
	targets map[string]netip.Addr
	// unanswered counts, per target, the requests sent since its last
	// answer (or since it was added).
	unanswered  map[string]int
	unreachable map[string]bool
}

// New returns a Prober with no targets.
func New(opts Options) *Prober {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Misses <= 0 {
		opts.Misses = DefaultMisses
	}
	return &Prober{interval: opts.Interval, misses: opts.Misses, id: os.Getpid() & 0xffff, changes: make(chan struct{}, 1), started: make(chan struct{}),
		targets: map[string]netip.Addr{}, unanswered: map[string]int{}, unreachable: map[string]bool{}}
}

// SetTargets replaces the nodes to probe, by name. A new target counts as
// reachable until it misses its first answers.
func (p *Prober) SetTargets(targets map[string]netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, addr := range targets {
		if old, ok := p.targets[name]; !ok || old != addr {
			p.unanswered[name] = 0
			delete(p.unreachable, name)
		}
	}
	for name := range p.targets {
		if _, ok := targets[name]; !ok {
			delete(p.unanswered, name)
			delete(p.unreachable, name)
		}
	}
	p.targets = maps.Clone(targets)
	if len(targets) > 0 {
		p.startedOnce.Do(func() { close(p.started) })
	}
}

// Err says why the prober does not probe, such as sockets it could not
// open; nil while it probes or has nothing to probe yet.
func (p *Prober) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Unreachable returns the targets that stopped answering.
func (p *Prober) Unreachable() map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.unreachable)
}

// Changes signals, without blocking the prober, that a target became
// unreachable or reachable again.
func (p *Prober) Changes() <-chan struct{} { return p.changes }

// Run probes until ctx ends, from the first time it has a target on. When
// it cannot open its ICMP sockets (it needs CAP_NET_RAW) it returns the
// error, which Err reports from then on, and every target stays
// reachable.
//
// One goroutine reads, sends and judges, in that order, at every tick: a
// target is unreachable after Misses requests in a row went unanswered,
// counted in requests sent rather than in time, so a speaker that was not
// scheduled for a while (a busy node) does not take its own delay for
// silence, and reads every answer that arrived meanwhile before judging.
func (p *Prober) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-p.started:
	}
	conns, err := listen()
	if err != nil {
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		return err
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	seq := 0
	buf := make([]byte, 1500)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for _, f := range conns {
			p.readAnswers(f, buf)
		}
		seq++
		p.send(conns, seq)
		p.judge()
	}
}

// family is one address family's socket and message types.
type family struct {
	conn    *icmp.PacketConn
	request icmp.Type
	reply   icmp.Type
	proto   int
	v6      bool
}

func listen() ([]family, error) {
	c4, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("open an ICMP socket (the speaker needs CAP_NET_RAW to probe other nodes): %w", err)
	}
	c6, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		c4.Close()
		return nil, fmt.Errorf("open an ICMPv6 socket (the speaker needs CAP_NET_RAW to probe other nodes): %w", err)
	}
	return []family{
		{conn: c4, request: ipv4.ICMPTypeEcho, reply: ipv4.ICMPTypeEchoReply, proto: 1},
		{conn: c6, request: ipv6.ICMPTypeEchoRequest, reply: ipv6.ICMPTypeEchoReply, proto: 58, v6: true},
	}, nil
}

func (f family) Close() error { return f.conn.Close() }

// send sends one echo request to every target, and counts it as
// unanswered until an answer is read.
func (p *Prober) send(conns []family, seq int) {
	p.mu.Lock()
	targets := maps.Clone(p.targets)
	for name := range targets {
		p.unanswered[name]++
	}
	p.mu.Unlock()
	for _, addr := range targets {
		for _, f := range conns {
			if addr.Unmap().Is4() == f.v6 {
				continue
			}
			msg := icmp.Message{Type: f.request, Body: &icmp.Echo{ID: p.id, Seq: seq & 0xffff, Data: []byte("bgplb")}}
			b, err := msg.Marshal(nil)
			if err != nil {
				continue
			}
			// A failed send is a request unanswered, judged as such.
			_, _ = f.conn.WriteTo(b, &net.IPAddr{IP: addr.Unmap().AsSlice()})
		}
	}
}

// answerWait is how long readAnswers waits for one more answer once
// those already queued are read.
const answerWait = time.Millisecond

// readAnswers reads the echo replies to this prober that arrived since
// the last tick.
func (p *Prober) readAnswers(f family, buf []byte) {
	for {
		if err := f.conn.SetReadDeadline(time.Now().Add(answerWait)); err != nil {
			return
		}
		n, from, err := f.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		msg, err := icmp.ParseMessage(f.proto, buf[:n])
		if err != nil || msg.Type != f.reply {
			continue
		}
		if echo, ok := msg.Body.(*icmp.Echo); !ok || echo.ID != p.id {
			continue
		}
		ip, ok := from.(*net.IPAddr)
		if !ok {
			continue
		}
		if addr, ok := netip.AddrFromSlice(ip.IP); ok {
			p.answered(addr.Unmap())
		}
	}
}

func (p *Prober) answered(addr netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, target := range p.targets {
		if target.Unmap() == addr {
			p.unanswered[name] = 0
		}
	}
}

// judge marks the targets with more than Misses requests unanswered in a
// row unreachable, and those that answered again reachable, and signals a
// change.
func (p *Prober) judge() {
	p.mu.Lock()
	changed := false
	for name := range p.targets {
		down := p.unanswered[name] > p.misses
		if down != p.unreachable[name] {
			changed = true
			if down {
				p.unreachable[name] = true
			} else {
				delete(p.unreachable, name)
			}
		}
	}
	p.mu.Unlock()
	if changed {
		select {
		case p.changes <- struct{}{}:
		default:
		}
	}
}
