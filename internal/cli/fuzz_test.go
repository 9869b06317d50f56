package cli

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bgplb/bgplb/internal/ecmp"
)

// The fuzz targets below run bgplbctl's commands on flag values as a user
// could type them, through Run as the binary does. A command must never
// panic; it either succeeds or exits with status 2 and says on stderr what
// was wrong; and what it prints on success agrees with what the parsers of
// internal/ecmp make of the same values.

// whatIfInput is one command line of ecmp what-if: the value of each flag.
// changes holds one --change flag per line.
type whatIfInput struct {
	model, nexthops, changes, buckets, output string
	idle                                      bool
}

func (in whatIfInput) args() []string {
	args := []string{"ecmp", "what-if", "--model=" + in.model, "--nexthops=" + in.nexthops,
		"--buckets=" + in.buckets, "-o=" + in.output}
	for change := range strings.SplitSeq(in.changes, "\n") {
		args = append(args, "--change="+change)
	}
	if in.idle {
		args = append(args, "--idle-migration")
	}
	return args
}

// models returns the models the --model value names, or nil if none.
func (in whatIfInput) models() []ecmp.Model {
	if in.model == "all" {
		return ecmp.Models()
	}
	if m, err := ecmp.ParseModel(in.model); err == nil {
		return []ecmp.Model{m}
	}
	return nil
}

// expected returns the next-hop sets before and after the change, and
// whether every value is one the command accepts, found with the parsers
// of internal/ecmp and the limits the help states.
func (in whatIfInput) expected() (before, after []ecmp.NextHop, valid bool) {
	buckets, err := strconv.ParseInt(in.buckets, 0, strconv.IntSize)
	if err != nil || buckets < 1 || buckets > ecmp.MaxBuckets || in.models() == nil ||
		(in.output != "text" && in.output != "json") {
		return nil, nil, false
	}
	if before, err = ecmp.ParseNextHops(in.nexthops); err != nil {
		return nil, nil, false
	}
	after = before
	for change := range strings.SplitSeq(in.changes, "\n") {
		if after, err = ecmp.ApplyChange(after, change); err != nil {
			return nil, nil, false
		}
	}
	opts := ecmp.Options{Buckets: int(buckets), IdleMigration: in.idle}
	for _, m := range in.models() {
		if _, err := ecmp.WhatIf(m, before, after, opts); err != nil {
			return nil, nil, false
		}
	}
	return before, after, true
}

func FuzzWhatIfFlags(f *testing.F) {
	for _, in := range []whatIfInput{
		{"all", "a:3,b:1,c", "add=d", "128", "text", false},
		{"hash-threshold", "10.0.0.1,10.0.0.2,10.0.0.3", "remove=10.0.0.2", "128", "json", false},
		{"resilient", "a,b", "add=c:2@1\nweight=a:4", "0x40", "json", true},
		{"modulo-n", "[2001:db8::1]:4,2001:db8::2", "remove=2001:db8::2", "1", "text", false},
		{"resilient", "a,b,c", "remove=a", "2", "text", false},
		{"all", "a", "remove=a", "65535", "json", false},
		{"all", "a", "", "65536", "text", false},
		{"maglev", "a", "add=b", "128", "yaml", false},
		{"all", "", "add=b", "many", "text", false},
		{"all", "a:x", "add=", "-1", "json", true},
	} {
		f.Add(in.model, in.nexthops, in.changes, in.buckets, in.output, in.idle)
	}
	f.Fuzz(func(t *testing.T, model, nexthops, changes, buckets, output string, idle bool) {
		in := whatIfInput{model, nexthops, changes, buckets, output, idle}
		var stdout, stderr bytes.Buffer
		status := Run(in.args(), &stdout, &stderr)
		before, after, valid := in.expected()
		switch {
		case status == exitUsage && !valid:
			checkUsageError(t, in.args(), "bgplbctl ecmp what-if", stdout.String(), stderr.String())
		case status == exitOK && valid:
			if stderr.Len() > 0 {
				t.Fatalf("%q: status 0 with stderr %q", in.args(), stderr.String())
			}
			checkWhatIfOutput(t, in, stdout.Bytes(), before, after)
		default:
			t.Fatalf("%q: status %d, but the values are valid: %v\nstdout: %s\nstderr: %s", in.args(), status, valid, stdout.String(), stderr.String())
		}
	})
}

// checkUsageError checks the form of a usage error: nothing on stdout, and
// on stderr one message naming the command and pointing to its help.
func checkUsageError(t *testing.T, args []string, path, stdout, stderr string) {
	t.Helper()
	if stdout != "" {
		t.Fatalf("%q: a usage error with stdout %q", args, stdout)
	}
	if !strings.HasPrefix(stderr, path+": ") || !strings.HasSuffix(stderr, "\nRun '"+path+" --help' for usage.\n") {
		t.Fatalf("%q: stderr %q is not a usage error of %s", args, stderr, path)
	}
}

// checkWhatIfOutput checks that the output shows the next hops as the
// parsers read them and one estimate per model, each a share of the
// connections whose parts add up.
func checkWhatIfOutput(t *testing.T, in whatIfInput, stdout []byte, before, after []ecmp.NextHop) {
	t.Helper()
	if in.output == "text" {
		want := "before: " + ecmp.FormatNextHops(before) + "\n"
		if !bytes.HasPrefix(stdout, []byte(want)) {
			t.Fatalf("%q: text output does not start with %q:\n%s", in.args(), want, stdout)
		}
		return
	}
	var report whatIfReport
	if err := json.Unmarshal(stdout, &report); err != nil {
		t.Fatalf("%q: JSON output does not decode: %v\n%s", in.args(), err, stdout)
	}
	if !slices.Equal(report.Before, nextHopsJSON(before)) || !slices.Equal(report.After, nextHopsJSON(after)) {
		t.Fatalf("%q: before %v and after %v, want %v and %v", in.args(), report.Before, report.After, nextHopsJSON(before), nextHopsJSON(after))
	}
	if len(report.Estimates) != len(in.models()) {
		t.Fatalf("%q: %d estimates, want one per model of %v", in.args(), len(report.Estimates), in.models())
	}
	const tolerance = 1e-9
	for i, e := range report.Estimates {
		perNextHop := 0.0
		for _, share := range e.PerNextHop {
			perNextHop += share
		}
		if e.Model != in.models()[i] || e.Moved < 0 || e.Moved > 1 || e.Lost < 0 || e.Lost > e.Moved ||
			math.Abs(e.Rehashed-(e.Moved-e.Lost)) > tolerance || math.Abs(perNextHop-e.Moved) > tolerance {
			t.Fatalf("%q: estimate %+v is not a share of connections split into lost and rehashed", in.args(), e)
		}
	}
}

func FuzzStatusFlags(f *testing.F) {
	// Nothing is found to connect to (no $KUBECONFIG, no ~/.kube/config,
	// not in a cluster), so that a command line with valid values fails
	// when it looks for the API server, after every check of the values.
	f.Setenv("HOME", f.TempDir())
	f.Setenv("KUBECONFIG", "")
	f.Setenv("KUBERNETES_SERVICE_HOST", "")
	f.Setenv("KUBERNETES_SERVICE_PORT", "")
	for _, in := range [][5]string{
		{"text", "auto", "", "", ""}, {"json", "never", "shop", "example.com/bgplb", "prod"},
		{"yaml", "auto", "", "", ""}, {"text", "sometimes", "", "", ""}, {"JSON", "Always", "", "", ""},
		{"", "", "", "", ""}, {"text ", "always", "a b", "-", "--"},
	} {
		f.Add(in[0], in[1], in[2], in[3], in[4])
	}
	f.Fuzz(func(t *testing.T, output, color, namespace, lbClass, kubeContext string) {
		args := []string{"status", "-o=" + output, "--color=" + color, "-n=" + namespace,
			"--lb-class=" + lbClass, "--context=" + kubeContext}
		var stdout, stderr bytes.Buffer
		status := Run(args, &stdout, &stderr)
		var bad string
		switch {
		case output != "text" && output != "json":
			bad = "-o " + strconv.Quote(output)
		case color != "auto" && color != "always" && color != "never":
			bad = "--color " + strconv.Quote(color)
		}
		switch {
		case bad != "":
			if status != exitUsage {
				t.Fatalf("%q: status %d, want %d for %s", args, status, exitUsage, bad)
			}
			checkUsageError(t, args, "bgplbctl status", stdout.String(), stderr.String())
			if !strings.Contains(stderr.String(), bad) {
				t.Fatalf("%q: stderr %q does not quote the bad value as %s", args, stderr.String(), bad)
			}
		case status != exitFailure || stdout.Len() > 0 || !strings.HasPrefix(stderr.String(), "bgplbctl status: "):
			t.Fatalf("%q: status %d, stdout %q, stderr %q; want status 1 for the missing kubeconfig", args, status, stdout.String(), stderr.String())
		}
	})
}
