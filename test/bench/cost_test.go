package main

import (
	"testing"
	"time"
)

func TestCPUTimesAreReadFromTheMachineTotal(t *testing.T) {
	stat := "cpu  2606049 540156 959429 8514356 25430 7 151723 9783 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
	got, err := parseCPUTimes(stat)
	if err != nil {
		t.Fatal(err)
	}
	want := cpuTimes{user: 2606049, nice: 540156, system: 959429, irq: 7, softirq: 151723}
	if got != want {
		t.Fatalf("parseCPUTimes = %+v, want %+v", got, want)
	}
	if k := got.kernel(); k != time.Duration(959429+7+151723)*clockTick {
		t.Errorf("kernel time %v leaves out system, irq or softirq", k)
	}
	if b := got.busy(); b != time.Duration(2606049+540156+959429+7+151723)*clockTick {
		t.Errorf("busy time %v is not user, nice and kernel time", b)
	}
}

func TestCPUTimesRefuseAnotherFirstLine(t *testing.T) {
	for _, stat := range []string{"", "intr 1 2 3 4 5 6 7 8", "cpu 1 2 3", "cpu 1 2 x 4 5 6 7"} {
		if _, err := parseCPUTimes(stat); err == nil {
			t.Errorf("parseCPUTimes(%q) took it as the cpu line", stat)
		}
	}
}

func TestFragCreatesIsReadByItsName(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL FragOKs FragCreates OutTransmits\nIp: 2 64 5 1234 99\nIcmp: InMsgs FragCreates\nIcmp: 1 2\n"
	got, err := parseFragCreates(snmp)
	if err != nil || got != 1234 {
		t.Fatalf("parseFragCreates = %d, %v; want 1234", got, err)
	}
	if _, err := parseFragCreates("Ip: Forwarding\nIp: 2\n"); err == nil {
		t.Error("a table without FragCreates gave a value")
	}
}

func TestSummaryTakesRatiosWithinEachRound(t *testing.T) {
	// The rounds' ratios are 1.5, 2 and 2.5; the ratio of the medians
	// (30/12) is not their median.
	values := [][2]float64{{10, 15}, {100, 200}, {12, 30}}
	var rounds []costRound
	for _, v := range values {
		var r costRound
		r[0].local.bulkMiBps, r[1].local.bulkMiBps = v[0], v[1]
		rounds = append(rounds, r)
	}
	s := summarise(rounds, func(f costFigures) setFigures { return f.local }, func(s setFigures) float64 { return s.bulkMiBps })
	want := costSummary{off: 12, on: 30, ratio: 2, lowest: 1.5, highest: 2.5}
	if s != want {
		t.Fatalf("summarise = %+v, want %+v", s, want)
	}
}
