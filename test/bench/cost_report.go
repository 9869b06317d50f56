package main

// The cost section's report.

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// printCostIntro says how the section tells forwarded flows from local
// ones.
func printCostIntro(b *costBench, cfg costConfig) {
	fmt.Printf("\ndirector cost: 3 nodes, FRR router, a Local Service with a pod on every node, %d rounds of director off and on, %s\n",
		cfg.rounds, time.Now().UTC().Format(time.RFC3339))
	for _, line := range []string{
		"The router's route to the Service address is pinned to node-0 (a policy rule in the router's namespace,",
		"ahead of the routes BGP installed): every packet from the client reaches node-0 first, while all three",
		"nodes still announce and serve the address, so with the director on the owner tables name all three.",
		fmt.Sprintf("Flows of one set (%d client source ports) are owned by node-0 and served there; flows of the other", len(b.local.ports)),
		"are forwarded over VXLAN to node-1 or node-2. The ports are picked by the owner table and checked before",
		"every measurement; with the director off node-0 serves both sets, from the same ports. The Service is",
		"Local, so kube-proxy hands a connection to the pod of the node that took it in, never on to another node.",
	} {
		fmt.Println("  " + line)
	}
	fmt.Println()
}

// printCostFigures prints, for every figure, its medians over the rounds
// with the director off and on, and the median and the range of each
// round's own ratio of on to off.
func printCostFigures(rounds []costRound) {
	fmt.Printf("  %-36s %-21s %8s %8s %8s %7s %11s\n", "figure", "flows", "off", "on", "added", "on/off", "range")
	for _, row := range costRows() {
		for _, set := range costSets {
			f := summarise(rounds, set.pick, row.value)
			added := ""
			if row.additive {
				added = fmt.Sprintf(row.format, f.on-f.off)
			}
			fmt.Printf("  %-36s %-21s %8s %8s %8s %7.2f %11s\n", row.name, set.name,
				fmt.Sprintf(row.format, f.off), fmt.Sprintf(row.format, f.on), added, f.ratio,
				fmt.Sprintf("%.2f-%.2f", f.lowest, f.highest))
		}
	}
	fmt.Println()
	printProgramFigures(rounds)
	printCostNotes(rounds)
}

// costSets names the two flow sets of the report.
var costSets = []struct {
	name string
	pick func(costFigures) setFigures
}{
	{"owned by node-0", func(f costFigures) setFigures { return f.local }},
	{"forwarded to another", func(f costFigures) setFigures { return f.forwarded }},
}

// costRow is a figure of one flow set in one state of one round.
type costRow struct {
	name   string
	format string
	// additive figures get an on - off difference.
	additive bool
	value    func(setFigures) float64
}

func costRows() []costRow {
	percentile := func(samples func(setFigures) []time.Duration, p int) func(setFigures) float64 {
		return func(s setFigures) float64 { return us(pct(samples(s), p)) }
	}
	connect := func(s setFigures) []time.Duration { return s.connect }
	echo := func(s setFigures) []time.Duration { return s.echo }
	whole := func(s setFigures) []time.Duration { return s.whole }
	return []costRow{
		{"connect p50, µs", "%.0f", true, percentile(connect, 50)},
		{"connect p99, µs", "%.0f", true, percentile(connect, 99)},
		{"echo round trip p50, µs", "%.0f", true, percentile(echo, 50)},
		{"echo round trip p99, µs", "%.0f", true, percentile(echo, 99)},
		{"connect+greeting+echo p50, µs", "%.0f", true, percentile(whole, 50)},
		{"connect+greeting+echo p99, µs", "%.0f", true, percentile(whole, 99)},
		{fmt.Sprintf("connections/s (%d clients)*", costClients), "%.0f", false, func(s setFigures) float64 { return s.connsPerSecond }},
		{"one bulk stream, MiB/s echoed", "%.0f", false, func(s setFigures) float64 { return s.bulkMiBps }},
		{"machine CPU per client packet, µs", "%.1f", true, func(s setFigures) float64 { return us(s.cpu.busy) }},
		{"  of it kernel (sys+irq+softirq), µs", "%.1f", true, func(s setFigures) float64 { return us(s.cpu.kernel) }},
	}
}

// costSummary is a figure over the rounds: medians off and on, and the
// median, lowest and highest of the rounds' ratios of on to off.
type costSummary struct {
	off, on, ratio, lowest, highest float64
}

func summarise(rounds []costRound, pick func(costFigures) setFigures, value func(setFigures) float64) costSummary {
	var offs, ons, ratios []float64
	for _, r := range rounds {
		o, n := value(pick(r[0])), value(pick(r[1]))
		offs, ons = append(offs, o), append(ons, n)
		ratios = append(ratios, n/o)
	}
	return costSummary{off: median(offs), on: median(ons), ratio: median(ratios), lowest: slices.Min(ratios), highest: slices.Max(ratios)}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

// printCostNotes says what the figures are and what they are not.
func printCostNotes(rounds []costRound) {
	var fragsOn, fragsOff, packets []float64
	for _, r := range rounds {
		fragsOff = append(fragsOff, float64(r[0].forwarded.fragments))
		fragsOn = append(fragsOn, float64(r[1].forwarded.fragments))
		for _, f := range r {
			packets = append(packets, f.local.cpu.packetsPerRoundTrip, f.forwarded.cpu.packetsPerRoundTrip)
		}
	}
	fmt.Println()
	for _, line := range []string{
		"off and on are medians over the rounds, added = on - off; on/off is the median of each round's own ratio,",
		"and range its lowest and highest: a ratio whose range spans 1 is within the machine's noise. Latency: one",
		"connection at a time, percentiles of each round's connections; connect is the dial, echo a 16-byte",
		"message's round trip after the greeting. Every hop is a veth pair in one kernel, so the figures are",
		"software costs with no wire time. *Each connection: connect, read the greeting, reset. The bulk stream",
		"is echoed back by the responder, from the serving node straight to the client; the rate is the payload",
		"of one direction.",
		fmt.Sprintf("The lab's links have a 1500-byte MTU: node-0 created a median %.0f IP fragments per forwarded bulk", median(fragsOn)),
		fmt.Sprintf("stream with the director on (%.0f off), as VXLAN's 50 bytes do not fit full-size segments.", median(fragsOff)),
		"CPU: the machine's /proc/stat (every core, every namespace, this process with the client and the",
		fmt.Sprintf("responders, the router, the daemons and anything else running) during %d-byte echoes on %d connections,", cpuEchoSize, costClients),
		fmt.Sprintf("divided by the packets the client sent (a median %.2f per round trip). The lab's nodes are namespaces", median(packets)),
		"of one kernel, so no node's own share is separable: the on - off difference is the director's cost per",
		"packet (its program on node-0, and for forwarded flows the encapsulation and the second node's receive)",
		"plus the noise of a shared machine; the absolute figures are the whole lab's, not a node's.",
	} {
		fmt.Println("  " + strings.TrimRight(line, " "))
	}
}

// printProgramFigures prints what the kernel's BPF statistics say about
// the director's programs under the CPU load, director on.
func printProgramFigures(rounds []costRound) {
	fmt.Println("  The director's programs under the CPU load, director on (the kernel's BPF run-time statistics, on for")
	fmt.Println("  the whole section; medians over the rounds). A forwarded packet runs them three times: at node-0's")
	fmt.Println("  uplink, at the owner's uplink (the encapsulated packet, for no Service address) and at its tunnel device.")
	for _, set := range costSets {
		var runs, run []float64
		for _, r := range rounds {
			cpu := set.pick(r[1]).cpu
			runs, run = append(runs, cpu.programRuns), append(run, float64(cpu.programRun.Nanoseconds()))
		}
		fmt.Printf("    flows %-21s %.2f runs per client packet, %.0f ns per run\n", set.name+":", median(runs), median(run))
	}
}
