package main

// The loads of the cost section and what they measure.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"

	"github.com/bgplb/bgplb/test/lab"
)

// setFigures are one flow set's figures in one state of the director.
type setFigures struct {
	// connect is how long each dial took; echo, a 16-byte message's round
	// trip once the greeting was in; whole, dial start to the echo back.
	connect, echo, whole []time.Duration
	// connsPerSecond is the rate of short connections costClients
	// clients opened, each read its greeting and reset.
	connsPerSecond float64
	// bulkMiBps is one stream's payload rate, echoed back, and fragments
	// the IP fragments node-0 made meanwhile.
	bulkMiBps float64
	fragments int
	// cpu is the whole machine's CPU per packet the client sent under the
	// fixed echo load.
	cpu cpuPerPacket
}

// costFigures are both flow sets' figures in one state of the director.
type costFigures struct{ local, forwarded setFigures }

// costRound is one round's figures with the director off ([0]) and on.
type costRound [2]costFigures

// costClients is how many clients open connections at once in the rate
// measurement, and how many connections carry the CPU load.
const costClients = 4

// echoSize is the size of the latency and CPU loads' messages.
const (
	latencyEchoSize = 16
	cpuEchoSize     = 64
)

// measure runs every load on both flow sets in the director's current
// state.
func (b *costBench) measure(ctx context.Context, cfg costConfig) (costFigures, error) {
	var f costFigures
	if err := b.latency(ctx, cfg.conns, &f); err != nil {
		return f, err
	}
	for _, s := range []struct {
		set     flowSet
		figures *setFigures
	}{{b.local, &f.local}, {b.forwarded, &f.forwarded}} {
		var err error
		if s.figures.connsPerSecond, err = b.connectionRate(ctx, s.set, cfg.conns); err != nil {
			return f, fmt.Errorf("connection rate, flows %s: %w", s.set.name, err)
		}
		if s.figures.bulkMiBps, s.figures.fragments, err = b.bulk(ctx, s.set, cfg.bulkMiB); err != nil {
			return f, fmt.Errorf("bulk stream, flows %s: %w", s.set.name, err)
		}
		if s.figures.cpu, err = b.cpuLoad(ctx, s.set, 20*cfg.conns); err != nil {
			return f, fmt.Errorf("CPU load, flows %s: %w", s.set.name, err)
		}
	}
	return f, nil
}

// latency opens conns connections of each set one at a time, the sets
// taking turns so that a change of the machine's load hits both alike,
// and records each one's connect, echo and whole times.
func (b *costBench) latency(ctx context.Context, conns int, f *costFigures) error {
	for i := range 2 * conns {
		set, figures := b.local, &f.local
		if i%2 == 1 {
			set, figures = b.forwarded, &f.forwarded
		}
		port := set.ports[(i/2)%len(set.ports)]
		connect, echo, whole, err := b.timedExchange(ctx, port)
		if err != nil {
			return fmt.Errorf("latency, flows %s, port %d: %w", set.name, port, err)
		}
		figures.connect = append(figures.connect, connect)
		figures.echo = append(figures.echo, echo)
		figures.whole = append(figures.whole, whole)
	}
	return nil
}

// timedExchange opens a connection from port, reads the greeting, sends
// one message and reads its echo.
func (b *costBench) timedExchange(ctx context.Context, port uint16) (connect, echo, whole time.Duration, err error) {
	start := time.Now()
	c, err := b.lab.DialFrom(ctx, port, netip.AddrPortFrom(b.addr, lab.ResponderPort))
	if err != nil {
		return 0, 0, 0, err
	}
	defer closeWithReset(c)
	connect = time.Since(start)
	if _, err := readAnswer(c); err != nil {
		return 0, 0, 0, err
	}
	sent := time.Now()
	if err := echoOnce(c, make([]byte, latencyEchoSize)); err != nil {
		return 0, 0, 0, err
	}
	return connect, time.Since(sent), time.Since(start), nil
}

// echoOnce sends msg and reads as many bytes back.
func echoOnce(c net.Conn, msg []byte) error {
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if _, err := io.ReadFull(c, msg); err != nil {
		return fmt.Errorf("read the echo: %w", err)
	}
	return nil
}

// connectionRate opens conns short connections from the set's ports with
// costClients clients at once, each client on ports of its own, and
// returns connections per second.
func (b *costBench) connectionRate(ctx context.Context, set flowSet, conns int) (float64, error) {
	var left atomic.Int64
	left.Store(int64(conns))
	errs := make([]error, costClients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range costClients {
		var mine []uint16
		for i := w; i < len(set.ports); i += costClients {
			mine = append(mine, set.ports[i])
		}
		wg.Go(func() {
			for i := 0; left.Add(-1) >= 0; i++ {
				port := mine[i%len(mine)]
				if _, err := b.servedBy(ctx, port); err != nil {
					errs[w] = fmt.Errorf("port %d: %w", port, err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return float64(conns) / elapsed.Seconds(), nil
}

// bulk sends mib MiB through one connection of the set and reads the echo
// while it sends. It returns the payload rate and how many IP fragments
// node-0 created meanwhile.
func (b *costBench) bulk(ctx context.Context, set flowSet, mib int) (float64, int, error) {
	fragsBefore, err := fragmentsCreated(b.lab.Nodes[0].NS)
	if err != nil {
		return 0, 0, err
	}
	c, err := b.lab.DialFrom(ctx, set.ports[0], netip.AddrPortFrom(b.addr, lab.ResponderPort))
	if err != nil {
		return 0, 0, err
	}
	defer closeWithReset(c)
	if _, err := readAnswer(c); err != nil {
		return 0, 0, err
	}
	total := int64(mib) << 20
	if err := c.SetDeadline(time.Now().Add(5 * time.Minute)); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	sent := make(chan error, 1)
	go func() {
		chunk := make([]byte, 64<<10)
		var err error
		for n := int64(0); n < total && err == nil; n += int64(len(chunk)) {
			_, err = c.Write(chunk)
		}
		sent <- err
	}()
	received, readErr := io.CopyN(io.Discard, c, total)
	elapsed := time.Since(start)
	if err := errors.Join(<-sent, readErr); err != nil {
		return 0, 0, fmt.Errorf("after %d of %d bytes echoed: %w", received, total, err)
	}
	fragsAfter, err := fragmentsCreated(b.lab.Nodes[0].NS)
	if err != nil {
		return 0, 0, err
	}
	return float64(mib) / elapsed.Seconds(), fragsAfter - fragsBefore, nil
}

// cpuPerPacket is CPU time of the whole machine per packet the client
// sent: all of it, and the part the kernel spent (system, irq and
// softirq).
type cpuPerPacket struct {
	busy, kernel time.Duration
	// packetsPerRoundTrip is how many packets the client sent per echo
	// round trip.
	packetsPerRoundTrip float64
	// programRuns is how many times the director's programs ran per
	// packet the client sent, and programRun how long one run took on
	// average, by the kernel's BPF run-time statistics; zero with the
	// director off.
	programRuns float64
	programRun  time.Duration
}

// cpuLoad runs a fixed load, roundTrips echo round trips of small
// messages over costClients connections of the set, and returns the
// machine's CPU time per packet the client sent during it.
func (b *costBench) cpuLoad(ctx context.Context, set flowSet, roundTrips int) (cpuPerPacket, error) {
	conns := make([]net.Conn, costClients)
	for i := range conns {
		c, err := b.lab.DialFrom(ctx, set.ports[i], netip.AddrPortFrom(b.addr, lab.ResponderPort))
		if err != nil {
			return cpuPerPacket{}, err
		}
		defer closeWithReset(c)
		if _, err := readAnswer(c); err != nil {
			return cpuPerPacket{}, err
		}
		conns[i] = c
	}
	programs, err := b.directorPrograms()
	if err != nil {
		return cpuPerPacket{}, err
	}
	runsBefore, err := programRunTime(programs)
	if err != nil {
		return cpuPerPacket{}, err
	}
	sentBefore, err := packetsSent(b.lab.ClientNS)
	if err != nil {
		return cpuPerPacket{}, err
	}
	cpuBefore, err := readCPU()
	if err != nil {
		return cpuPerPacket{}, err
	}
	if err := echoAll(conns, roundTrips/len(conns)); err != nil {
		return cpuPerPacket{}, err
	}
	cpuAfter, err := readCPU()
	if err != nil {
		return cpuPerPacket{}, err
	}
	sentAfter, err := packetsSent(b.lab.ClientNS)
	if err != nil {
		return cpuPerPacket{}, err
	}
	runsAfter, err := programRunTime(programs)
	if err != nil {
		return cpuPerPacket{}, err
	}
	packets := sentAfter - sentBefore
	if packets <= 0 {
		return cpuPerPacket{}, fmt.Errorf("the client's packet counter went from %d to %d", sentBefore, sentAfter)
	}
	used := cpuAfter.sub(cpuBefore)
	f := cpuPerPacket{
		busy:                used.busy() / time.Duration(packets),
		kernel:              used.kernel() / time.Duration(packets),
		packetsPerRoundTrip: float64(packets) / float64(roundTrips/len(conns)*len(conns)),
	}
	if runs := runsAfter.runs - runsBefore.runs; runs > 0 {
		f.programRuns = float64(runs) / float64(packets)
		f.programRun = (runsAfter.time - runsBefore.time) / time.Duration(runs)
	}
	return f, nil
}

// directorPrograms returns the programs attached at TCX ingress of any
// interface of any node: the director's, on the uplinks and the tunnel
// devices; none with the director off.
func (b *costBench) directorPrograms() ([]ebpf.ProgramID, error) {
	var ids []ebpf.ProgramID
	for _, n := range b.lab.Nodes {
		byInterface, err := b.lab.IngressPrograms(n)
		if err != nil {
			return nil, err
		}
		for _, attached := range byInterface {
			ids = append(ids, attached...)
		}
	}
	return ids, nil
}

// programTotals are programs' runs and their run time, added up.
type programTotals struct {
	runs uint64
	time time.Duration
}

// programRunTime adds up the kernel's run-time statistics of programs.
func programRunTime(ids []ebpf.ProgramID) (programTotals, error) {
	var t programTotals
	for _, id := range ids {
		prog, err := ebpf.NewProgramFromID(id)
		if err != nil {
			return t, fmt.Errorf("program %d: %w", id, err)
		}
		stats, err := prog.Stats()
		prog.Close()
		if err != nil {
			return t, fmt.Errorf("statistics of program %d: %w", id, err)
		}
		t.runs += stats.RunCount
		t.time += stats.Runtime
	}
	return t, nil
}

// echoAll runs n echo round trips on each connection, all connections at
// once.
func echoAll(conns []net.Conn, n int) error {
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			msg := make([]byte, cpuEchoSize)
			for range n {
				if errs[i] = echoOnce(c, msg); errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// readAnswer reads the responder's greeting byte by byte, so that nothing
// after its newline is taken from the connection.
func readAnswer(c net.Conn) (lab.Answer, error) {
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return lab.Answer{}, err
	}
	var line []byte
	var one [1]byte
	for {
		if _, err := c.Read(one[:]); err != nil {
			return lab.Answer{}, fmt.Errorf("read the greeting (got %q): %w", line, err)
		}
		if one[0] == '\n' {
			return lab.ParseAnswer(string(line))
		}
		if line = append(line, one[0]); len(line) > 256 {
			return lab.Answer{}, fmt.Errorf("no newline in the greeting %q", line)
		}
	}
}

// closeWithReset closes a connection with a reset, so that the client
// keeps no TIME_WAIT socket and its source port is free for the next
// connection at once.
func closeWithReset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// cpuTimes are the machine's CPU times from /proc/stat, in clock ticks.
type cpuTimes struct{ user, nice, system, irq, softirq int64 }

// clockTick is the unit of /proc/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

func readCPU() (cpuTimes, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	return parseCPUTimes(string(data))
}

// parseCPUTimes reads the first line of /proc/stat, the machine's total.
func parseCPUTimes(stat string) (cpuTimes, error) {
	first, _, _ := strings.Cut(stat, "\n")
	fields := strings.Fields(first)
	if len(fields) < 8 || fields[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("/proc/stat starts with %q, want the cpu line", first)
	}
	var v [7]int64
	for i := range v {
		var err error
		if v[i], err = strconv.ParseInt(fields[i+1], 10, 64); err != nil {
			return cpuTimes{}, fmt.Errorf("/proc/stat cpu line %q: %w", first, err)
		}
	}
	// The fields are user, nice, system, idle, iowait, irq, softirq.
	return cpuTimes{user: v[0], nice: v[1], system: v[2], irq: v[5], softirq: v[6]}, nil
}

func (t cpuTimes) sub(o cpuTimes) cpuTimes {
	return cpuTimes{t.user - o.user, t.nice - o.nice, t.system - o.system, t.irq - o.irq, t.softirq - o.softirq}
}

func (t cpuTimes) kernel() time.Duration {
	return time.Duration(t.system+t.irq+t.softirq) * clockTick
}

func (t cpuTimes) busy() time.Duration {
	return time.Duration(t.user+t.nice)*clockTick + t.kernel()
}

// packetsSent reads how many packets the client namespace's eth0 sent.
func packetsSent(netns string) (int64, error) {
	out, err := exec.Command("ip", "-n", netns, "-s", "-j", "link", "show", "dev", "eth0").Output()
	if err != nil {
		return 0, fmt.Errorf("counters of eth0 in %s: %w", netns, err)
	}
	var links []struct {
		Stats struct {
			TX struct {
				Packets int64 `json:"packets"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		return 0, fmt.Errorf("counters of eth0 in %s: %q: %v", netns, out, err)
	}
	return links[0].Stats.TX.Packets, nil
}

// fragmentsCreated reads the namespace's IP FragCreates counter.
func fragmentsCreated(netns string) (int, error) {
	out, err := exec.Command("ip", "netns", "exec", netns, "cat", "/proc/net/snmp").Output()
	if err != nil {
		return 0, fmt.Errorf("IP counters of %s: %w", netns, err)
	}
	n, err := parseFragCreates(string(out))
	if err != nil {
		return 0, fmt.Errorf("IP counters of %s: %w", netns, err)
	}
	return n, nil
}

// parseFragCreates reads the FragCreates counter from /proc/net/snmp: a
// line of names and a line of values, both starting with "Ip:".
func parseFragCreates(snmp string) (int, error) {
	var names, values []string
	for _, line := range strings.Split(snmp, "\n") {
		if fields := strings.Fields(line); len(fields) > 0 && fields[0] == "Ip:" {
			if names == nil {
				names = fields
			} else {
				values = fields
			}
		}
	}
	for i, name := range names {
		if name == "FragCreates" && i < len(values) {
			return strconv.Atoi(values[i])
		}
	}
	return 0, fmt.Errorf("no FragCreates in %q", snmp)
}
