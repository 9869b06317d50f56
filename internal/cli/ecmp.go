package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/bgplb/bgplb/internal/ecmp"
)

func ecmpCommand() *command {
	return &command{
		name:    "ecmp",
		summary: "Reason about how routers spread connections over a prefix's next hops (ECMP).",
		subcommands: []*command{{
			name:    "what-if",
			summary: "Estimate the share of existing connections a next-hop change moves.",
			action:  runWhatIf,
		}},
	}
}

const whatIfHelp = `Usage: %[1]s --nexthops LIST --change CHANGES [flags]

Estimates the share of existing connections that a router sends to a
different next hop when a prefix's next-hop set changes. Routers hash
connections statelessly, so a moved connection reaches a node that has no
state for it and is reset.

LIST holds the next hops in router order, comma-separated, each NAME or
NAME:WEIGHT (weight 1 unless given); write an IPv6 address with a weight as
[ADDRESS]:WEIGHT. Order matters (it decides which hashes go where), so give
the next hops in the order the router lays them out:
Linux and FRR list next hops in the order 'ip route show' prints them.

CHANGES is a comma-separated list applied in order (--change may be repeated):
  remove=NAME              the next hop leaves the set
  add=NAME[:WEIGHT][@POS]  a new next hop enters at index POS in router order
                           (default: the end)
  weight=NAME:WEIGHT       the next hop's weight changes

Models (--model):
  modulo-n        next hop = list[hash mod N], the list holding each next hop
                  weight times
  hash-threshold  contiguous hash ranges sized by weight (RFC 2992; Linux
                  multipath routes and mpath nexthop groups)
  resilient       Linux resilient nexthop group: a table of buckets, where
                  busy buckets keep their next hop unless it is removed
  all             every model, one line each (default)

Moved counts every connection that changes next hop; lost, those whose next
hop left the set; rehashed, those moved although their next hop stays.

Examples:
  %[1]s --model hash-threshold --nexthops 10.0.0.1,10.0.0.2,10.0.0.3 --change remove=10.0.0.2
  %[1]s --model all --nexthops a:3,b:1,c --change add=d

Flags:
`

// changeList collects --change, which may be given more than once.
type changeList []string

func (c *changeList) String() string { return strings.Join(*c, ",") }

func (c *changeList) Set(s string) error {
	*c = append(*c, s)
	return nil
}

// whatIfFlags are the parsed and checked flags of ecmp what-if.
type whatIfFlags struct {
	models        []ecmp.Model
	before, after []ecmp.NextHop
	opts          ecmp.Options
	json          bool
}

func runWhatIf(path string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	// Parse reports nothing itself: help goes to stdout with status 0, and
	// errors go to stderr with status 2, each written below.
	fs.SetOutput(io.Discard)
	model := fs.String("model", "all", "router hashing `MODEL`: modulo-n, hash-threshold, resilient or all")
	nexthops := fs.String("nexthops", "", "next hops before the change, in router order (`LIST` above; required)")
	var changes changeList
	fs.Var(&changes, "change", "change of the next-hop set (`CHANGES` above; required)")
	buckets := fs.Int("buckets", ecmp.DefaultBuckets, fmt.Sprintf("resilient: `NUMBER` of buckets in the group (1 to %d)", ecmp.MaxBuckets))
	idle := fs.Bool("idle-migration", false, "resilient: buckets move to new or heavier next hops at once, as if idle (idle_timer 0 or idle connections); by default they stay while busy")
	var output string
	fs.StringVar(&output, "o", "text", "output `FORMAT`: text or json")
	fs.StringVar(&output, "output", "text", "output `FORMAT`: text or json (same as -o)")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, whatIfHelp, path)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return exitOK
		}
		return usageError(stderr, path, err)
	}
	f, err := checkWhatIfFlags(fs, *model, *nexthops, changes, *buckets, *idle, output)
	if err != nil {
		return usageError(stderr, path, err)
	}

	report := whatIfReport{Before: nextHopsJSON(f.before), After: nextHopsJSON(f.after)}
	for _, m := range f.models {
		est, err := ecmp.WhatIf(m, f.before, f.after, f.opts)
		if err != nil {
			// Every input was checked above, but WhatIf knows its
			// limits best; what it refuses is still bad input.
			return usageError(stderr, path, err)
		}
		report.Estimates = append(report.Estimates, estimateJSONOf(m, est, f.opts, f.before))
	}
	if f.json {
		err = writeJSON(stdout, report)
	} else {
		err = writeText(stdout, report)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: write output: %v\n", path, err)
		return exitFailure
	}
	return exitOK
}

func usageError(stderr io.Writer, path string, err error) int {
	fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", path, err, path)
	return exitUsage
}

func checkWhatIfFlags(fs *flag.FlagSet, model, nexthops string, changes []string, buckets int, idle bool, output string) (whatIfFlags, error) {
	var f whatIfFlags
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected argument %q: every input is a flag", fs.Arg(0))
	}
	if model == "all" {
		f.models = ecmp.Models()
	} else {
		m, err := ecmp.ParseModel(model)
		if err != nil {
			return f, fmt.Errorf("--model: %w, or all", err)
		}
		f.models = []ecmp.Model{m}
	}
	switch output {
	case "text":
	case "json":
		f.json = true
	default:
		return f, fmt.Errorf("-o %q: want text or json", output)
	}
	if buckets < 1 || buckets > ecmp.MaxBuckets {
		return f, fmt.Errorf("--buckets %d: want 1 to %d", buckets, ecmp.MaxBuckets)
	}
	f.opts = ecmp.Options{Buckets: buckets, IdleMigration: idle}
	if nexthops == "" {
		return f, errors.New("--nexthops is required")
	}
	if len(changes) == 0 {
		return f, errors.New("--change is required")
	}
	var err error
	if f.before, err = ecmp.ParseNextHops(nexthops); err != nil {
		return f, fmt.Errorf("--nexthops: %w", err)
	}
	f.after = f.before
	for _, c := range changes {
		if f.after, err = ecmp.ApplyChange(f.after, c); err != nil {
			return f, fmt.Errorf("--change: %w", err)
		}
	}
	return f, nil
}

// whatIfReport is the output of ecmp what-if; -o json writes it as it is.
type whatIfReport struct {
	Before    []nextHopJSON  `json:"before"`
	After     []nextHopJSON  `json:"after"`
	Estimates []estimateJSON `json:"estimates"`
}

type nextHopJSON struct {
	Name string `json:"name"`
	// Weight is the effective weight, 1 where none was given.
	Weight uint32 `json:"weight"`
}

type estimateJSON struct {
	Model      ecmp.Model         `json:"model"`
	Moved      float64            `json:"moved"`
	Lost       float64            `json:"lost"`
	Rehashed   float64            `json:"rehashed"`
	PerNextHop map[string]float64 `json:"perNextHop"`
	// Resilient holds the resilient model's parameters, so that a reader
	// of the JSON knows what the numbers assumed.
	Resilient *resilientJSON `json:"resilient,omitempty"`
	Assumes   string         `json:"assumes"`
}

type resilientJSON struct {
	Buckets       int  `json:"buckets"`
	IdleMigration bool `json:"idleMigration"`
}

func nextHopsJSON(nhs []ecmp.NextHop) []nextHopJSON {
	out := make([]nextHopJSON, len(nhs)) // [] rather than null for an empty set
	for i, nh := range nhs {
		out[i] = nextHopJSON{Name: nh.Name, Weight: max(nh.Weight, 1)}
	}
	return out
}

func estimateJSONOf(m ecmp.Model, est ecmp.Estimate, opts ecmp.Options, before []ecmp.NextHop) estimateJSON {
	e := estimateJSON{
		Model: m, Moved: est.Moved, Lost: est.Lost, Rehashed: est.Rehashed,
		PerNextHop: est.PerNextHop, Assumes: assumption(m, opts, before),
	}
	if m == ecmp.Resilient {
		e.Resilient = &resilientJSON{Buckets: opts.Buckets, IdleMigration: opts.IdleMigration}
	}
	return e
}

// assumption says, as one sentence, what a model takes the router to do,
// so that a reader can tell whether it is the router they have. before is
// the next-hop set before the change: a resilient group of one next hop
// behaves differently from a larger one, and the sentence must say so.
func assumption(m ecmp.Model, opts ecmp.Options, before []ecmp.NextHop) string {
	switch m {
	case ecmp.ModuloN:
		return "The router picks list[hash mod N] from a list of N entries that holds the next hops in router order, " +
			"each as many times as its weight."
	case ecmp.HashThreshold:
		return "The router splits the hash space into contiguous ranges, one per next hop in router order and sized by its weight " +
			"(RFC 2992, as Linux mpath groups do)."
	case ecmp.Resilient:
		switch {
		case len(before) == 1:
			// Linux forwards through a group of one next hop without
			// consulting its buckets, so they never record traffic.
			return fmt.Sprintf("The router uses a resilient group of %d buckets; while the group has a single next hop the kernel does not track "+
				"the buckets' use, so every bucket counts as idle and buckets move to new next hops at once.", opts.Buckets)
		case opts.IdleMigration:
			return fmt.Sprintf("The router uses a resilient group of %d buckets and moves buckets to new or heavier next hops at once, "+
				"as if every bucket were idle.", opts.Buckets)
		}
		return fmt.Sprintf("The router uses a resilient group of %d buckets and moves a busy bucket only when its next hop is removed "+
			"(the kernel's defaults: idle_timer 120 s, unbalanced_timer 0).", opts.Buckets)
	}
	return ""
}

func writeJSON(w io.Writer, report whatIfReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(report); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	return nil
}

func writeText(w io.Writer, report whatIfReport) error {
	fmt.Fprintf(w, "before: %s\nafter:  %s\n\n", formatSet(report.Before), formatSet(report.After))
	// The numbers are right-aligned under their headings, which
	// text/tabwriter cannot do for some columns only.
	width := len("MODEL")
	for _, e := range report.Estimates {
		width = max(width, len(e.Model))
	}
	const row = "%-*s  %6s  %6s  %8s  %s\n"
	if _, err := fmt.Fprintf(w, row, width, "MODEL", "MOVED", "LOST", "REHASHED", "ASSUMES"); err != nil {
		return err
	}
	for _, e := range report.Estimates {
		if _, err := fmt.Fprintf(w, row, width, e.Model, percent(e.Moved), percent(e.Lost), percent(e.Rehashed), e.Assumes); err != nil {
			return err
		}
	}
	return nil
}

func formatSet(nhs []nextHopJSON) string {
	if len(nhs) == 0 {
		return "(no next hops)"
	}
	set := make([]ecmp.NextHop, len(nhs))
	for i, nh := range nhs {
		set[i] = ecmp.NextHop{Name: nh.Name, Weight: nh.Weight}
	}
	return ecmp.FormatNextHops(set)
}

// percent writes a share as a percentage with one decimal.
func percent(share float64) string {
	return fmt.Sprintf("%.1f%%", 100*share)
}
