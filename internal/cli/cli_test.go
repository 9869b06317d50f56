package cli

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/bgplb/bgplb/internal/version"
)

// run runs bgplbctl with the arguments as a shell would split them.
func run(t *testing.T, cmdline string) (stdout, stderr string, status int) {
	t.Helper()
	var out, errOut bytes.Buffer
	status = Run(strings.Fields(cmdline), &out, &errOut)
	return out.String(), errOut.String(), status
}

// tableRow returns the fields of the text output's row for model.
func tableRow(t *testing.T, output, model string) []string {
	t.Helper()
	for line := range strings.Lines(output) {
		if fields := strings.Fields(line); len(fields) > 0 && fields[0] == model {
			return fields
		}
	}
	t.Fatalf("no row for %s in output:\n%s", model, output)
	return nil
}

func TestWhatIfText(t *testing.T) {
	tests := []struct {
		name    string
		cmdline string
		// rows maps each model expected in the table to its moved, lost
		// and rehashed columns.
		rows map[string][3]string
		// also are further substrings of the output.
		also []string
	}{
		{
			name:    "one model prints one row with its assumption",
			cmdline: "ecmp what-if --model hash-threshold --nexthops 10.0.0.1,10.0.0.2,10.0.0.3 --change remove=10.0.0.2",
			rows:    map[string][3]string{"hash-threshold": {"33.3%", "33.3%", "0.0%"}},
			also: []string{"before: 10.0.0.1,10.0.0.2,10.0.0.3", "after:  10.0.0.1,10.0.0.3",
				"MODEL", "MOVED", "LOST", "REHASHED", "ASSUMES"},
		},
		{
			name:    "every model is printed by default",
			cmdline: "ecmp what-if --nexthops a:3,b:1,c --change add=d",
			rows: map[string][3]string{
				"modulo-n":       {"63.3%", "0.0%", "63.3%"},
				"hash-threshold": {"40.0%", "0.0%", "40.0%"},
				"resilient":      {"0.0%", "0.0%", "0.0%"},
			},
			also: []string{"before: a:3,b,c", "after:  a:3,b,c,d"},
		},
		{
			name:    "model all is the same as the default",
			cmdline: "ecmp what-if --model all --nexthops a,b,c --change remove=c",
			rows: map[string][3]string{
				"modulo-n":       {"66.7%", "33.3%", "33.3%"},
				"hash-threshold": {"50.0%", "33.3%", "16.7%"},
				"resilient":      {"33.6%", "33.6%", "0.0%"},
			},
		},
		{
			name:    "idle migration and the bucket count reach the resilient model",
			cmdline: "ecmp what-if --model resilient --buckets 8 --idle-migration --nexthops a,b,c --change add=d",
			rows:    map[string][3]string{"resilient": {"25.0%", "0.0%", "25.0%"}},
		},
		{
			name:    "changes may be repeated and apply in order",
			cmdline: "ecmp what-if --model hash-threshold --nexthops a,b --change remove=a --change add=a",
			rows:    map[string][3]string{"hash-threshold": {"100.0%", "0.0%", "100.0%"}},
			also:    []string{"after:  b,a"},
		},
		{
			name:    "removing every next hop loses every connection",
			cmdline: "ecmp what-if --model modulo-n --nexthops a,b --change remove=a,remove=b",
			rows:    map[string][3]string{"modulo-n": {"100.0%", "100.0%", "0.0%"}},
			also:    []string{"after:  (no next hops)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, status := run(t, tc.cmdline)
			if status != 0 || stderr != "" {
				t.Fatalf("%s: status %d, stderr %q", tc.cmdline, status, stderr)
			}
			for model, want := range tc.rows {
				row := tableRow(t, stdout, model)
				if len(row) < 4 || row[1] != want[0] || row[2] != want[1] || row[3] != want[2] {
					t.Errorf("row %q, want moved/lost/rehashed %v", row, want)
				}
			}
			if rows := strings.Count(stdout, "\n") - 4; rows != len(tc.rows) {
				t.Errorf("%d model rows, want %d:\n%s", rows, len(tc.rows), stdout)
			}
			for _, s := range tc.also {
				if !strings.Contains(stdout, s) {
					t.Errorf("output lacks %q:\n%s", s, stdout)
				}
			}
		})
	}
}

// TestWhatIfAssumptions checks the exact sentence each model's ASSUMES
// column carries, in the text and in the JSON, since a reader compares it
// with their router word for word.
func TestWhatIfAssumptions(t *testing.T) {
	tests := []struct {
		name, cmdline, model, want string
	}{
		{name: "modulo-n", cmdline: "ecmp what-if --model modulo-n --nexthops a,b --change add=c", model: "modulo-n",
			want: "The router picks list[hash mod N] from a list of N entries that holds the next hops in router order, " +
				"each as many times as its weight."},
		{name: "hash-threshold", cmdline: "ecmp what-if --model hash-threshold --nexthops a,b --change add=c", model: "hash-threshold",
			want: "The router splits the hash space into contiguous ranges, one per next hop in router order and sized by its weight " +
				"(RFC 2992, as Linux mpath groups do)."},
		{name: "resilient with busy buckets", cmdline: "ecmp what-if --model resilient --nexthops a,b --change add=c", model: "resilient",
			want: "The router uses a resilient group of 128 buckets and moves a busy bucket only when its next hop is removed " +
				"(the kernel's defaults: idle_timer 120 s, unbalanced_timer 0)."},
		{name: "resilient with idle migration", cmdline: "ecmp what-if --model resilient --buckets 8 --idle-migration --nexthops a,b --change add=c",
			model: "resilient",
			want: "The router uses a resilient group of 8 buckets and moves buckets to new or heavier next hops at once, " +
				"as if every bucket were idle."},
		{name: "resilient from a single next hop", cmdline: "ecmp what-if --model resilient --nexthops a --change add=b", model: "resilient",
			want: "The router uses a resilient group of 128 buckets; while the group has a single next hop the kernel does not track " +
				"the buckets' use, so every bucket counts as idle and buckets move to new next hops at once."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, status := run(t, tc.cmdline)
			if status != 0 || stderr != "" {
				t.Fatalf("status %d, stderr %q", status, stderr)
			}
			row := tableRow(t, stdout, tc.model)
			if got := strings.Join(row[4:], " "); got != tc.want {
				t.Errorf("text ASSUMES\n%q\nwant\n%q", got, tc.want)
			}
			stdout, _, _ = run(t, tc.cmdline+" -o json")
			var report struct{ Estimates []struct{ Assumes string } }
			if err := json.Unmarshal([]byte(stdout), &report); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, stdout)
			}
			if len(report.Estimates) != 1 || report.Estimates[0].Assumes != tc.want {
				t.Errorf("JSON estimates %+v, want one assuming\n%q", report.Estimates, tc.want)
			}
		})
	}
}

func TestWhatIfJSON(t *testing.T) {
	for _, flag := range []string{"-o json", "--output=json"} {
		t.Run(flag, func(t *testing.T) {
			stdout, stderr, status := run(t, "ecmp what-if --buckets 4 --nexthops a:3,b --change remove=b "+flag)
			if status != 0 || stderr != "" {
				t.Fatalf("status %d, stderr %q", status, stderr)
			}
			var report struct {
				Before []struct {
					Name   string
					Weight uint32
				}
				After     []struct{ Name string }
				Estimates []struct {
					Model                 string
					Moved, Lost, Rehashed float64
					PerNextHop            map[string]float64
					Resilient             *struct {
						Buckets       int
						IdleMigration bool
					}
					Assumes string
				}
			}
			if err := json.Unmarshal([]byte(stdout), &report); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, stdout)
			}
			if len(report.Before) != 2 || report.Before[0].Name != "a" || report.Before[0].Weight != 3 || report.Before[1].Weight != 1 {
				t.Errorf("before = %+v, want a with weight 3 and b with weight 1", report.Before)
			}
			if len(report.After) != 1 || report.After[0].Name != "a" {
				t.Errorf("after = %+v, want a only", report.After)
			}
			want := map[string]float64{"modulo-n": 0.25, "hash-threshold": 0.25, "resilient": 0.25}
			if len(report.Estimates) != len(want) {
				t.Fatalf("%d estimates, want %d", len(report.Estimates), len(want))
			}
			for _, e := range report.Estimates {
				if math.Abs(e.Moved-want[e.Model]) > 1e-12 || math.Abs(e.Lost-want[e.Model]) > 1e-12 || e.Rehashed != 0 {
					t.Errorf("%s: moved %v lost %v rehashed %v, want %v lost and nothing rehashed", e.Model, e.Moved, e.Lost, e.Rehashed, want[e.Model])
				}
				if math.Abs(e.PerNextHop["b"]-want[e.Model]) > 1e-12 || e.PerNextHop["a"] != 0 {
					t.Errorf("%s: perNextHop %v, want only b's connections to leave", e.Model, e.PerNextHop)
				}
				if e.Assumes == "" {
					t.Errorf("%s: no assumption", e.Model)
				}
				if (e.Resilient != nil) != (e.Model == "resilient") {
					t.Errorf("%s: resilient parameters %+v, want them for the resilient model only", e.Model, e.Resilient)
				}
				if e.Resilient != nil && (e.Resilient.Buckets != 4 || e.Resilient.IdleMigration) {
					t.Errorf("resilient parameters %+v, want 4 buckets without idle migration", e.Resilient)
				}
			}
		})
	}
}

func TestWhatIfJSONWritesAnEmptyAfterSetAsAList(t *testing.T) {
	stdout, _, status := run(t, "ecmp what-if -o json --model modulo-n --nexthops a --change remove=a")
	if status != 0 || !strings.Contains(stdout, `"after": []`) {
		t.Errorf("status %d, output:\n%s\nwant an empty after list", status, stdout)
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		name, cmdline string
		want          []string
	}{
		{name: "what-if help explains the router order and the flags", cmdline: "ecmp what-if --help",
			want: []string{"Linux and FRR list next hops in the order", "ip route show", "remove=NAME", "add=NAME[:WEIGHT][@POS]",
				"weight=NAME:WEIGHT", "-buckets", "-idle-migration", "-model", "-nexthops", "-change", "-o FORMAT"}},
		{name: "short what-if help", cmdline: "ecmp what-if -h", want: []string{"Usage: bgplbctl ecmp what-if"}},
		{name: "the top level lists its commands", cmdline: "--help", want: []string{"ecmp"}},
		{name: "help is a word too", cmdline: "help", want: []string{"ecmp"}},
		{name: "a group lists its commands", cmdline: "ecmp -h", want: []string{"what-if"}},
		{name: "the top level lists version", cmdline: "--help", want: []string{"version"}},
		{name: "version help", cmdline: "version --help", want: []string{"Usage: bgplbctl version"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, status := run(t, tc.cmdline)
			if status != 0 || stderr != "" {
				t.Fatalf("status %d, stderr %q; help should succeed quietly", status, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("help lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
}

func TestUsageErrorsExitWithStatus2(t *testing.T) {
	tests := []struct {
		name, cmdline string
		want          []string // substrings of stderr
	}{
		{name: "no command", cmdline: "", want: []string{"missing command", "ecmp"}},
		{name: "an unknown command", cmdline: "status-of-everything", want: []string{`unknown command "status-of-everything"`}},
		{name: "an unknown subcommand", cmdline: "ecmp what-now", want: []string{`unknown command "what-now"`, "what-if"}},
		{name: "an unknown flag", cmdline: "ecmp what-if --bogus", want: []string{"-bogus", "--help"}},
		{name: "missing next hops", cmdline: "ecmp what-if --change add=d", want: []string{"--nexthops is required"}},
		{name: "missing change", cmdline: "ecmp what-if --nexthops a,b", want: []string{"--change is required"}},
		{name: "an unknown model", cmdline: "ecmp what-if --model maglev --nexthops a --change add=b",
			want: []string{`"maglev"`, "modulo-n", "hash-threshold", "resilient", "all"}},
		{name: "a bad change", cmdline: "ecmp what-if --nexthops a,b --change add=", want: []string{`invalid change "add="`}},
		{name: "a bad next hop", cmdline: "ecmp what-if --nexthops a:x --change add=b", want: []string{"--nexthops", `"a:x"`}},
		{name: "too few buckets", cmdline: "ecmp what-if --buckets 2 --nexthops a,b,c --change remove=a", want: []string{"2 buckets", "3 next hops"}},
		{name: "zero buckets", cmdline: "ecmp what-if --buckets 0 --nexthops a --change add=b", want: []string{"--buckets 0"}},
		{name: "a bucket count that is not a number", cmdline: "ecmp what-if --buckets many --nexthops a --change add=b", want: []string{`"many"`}},
		{name: "an unknown output format", cmdline: "ecmp what-if -o yaml --nexthops a --change add=b", want: []string{`"yaml"`, "text or json"}},
		{name: "a stray argument", cmdline: "ecmp what-if --nexthops a b --change add=c", want: []string{`unexpected argument "b"`}},
		{name: "an argument to version", cmdline: "version now", want: []string{`unexpected argument "now"`}},
		{name: "--version below the top level", cmdline: "ecmp --version", want: []string{`unknown command "--version"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, status := run(t, tc.cmdline)
			if status != 2 {
				t.Errorf("status %d, want 2", status)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing on a usage error", stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestVersion checks that the version command and the --version flag print
// the same line, naming the binary the tool runs as.
func TestVersion(t *testing.T) {
	want := version.Get().Line("bgplbctl") + "\n"
	for _, cmdline := range []string{"version", "--version", "-version"} {
		stdout, stderr, status := run(t, cmdline)
		if status != 0 || stderr != "" || stdout != want {
			t.Errorf("%s: status %d, stdout %q, stderr %q; want status 0 and %q", cmdline, status, stdout, stderr, want)
		}
	}
	var out bytes.Buffer
	if status := RunAs("kubectl bgplb", []string{"version"}, &out, &out); status != 0 || !strings.HasPrefix(out.String(), "bgplb kubectl-bgplb ") {
		t.Errorf("kubectl bgplb version: status %d, output %q; want the binary name kubectl-bgplb", status, out.String())
	}
}
