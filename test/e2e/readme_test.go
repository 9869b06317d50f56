package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/k8s/testenv"
	"github.com/bgplb/bgplb/internal/poll"
	"github.com/bgplb/bgplb/test/transcript"
)

// TestTheREADMEWorksAsWritten follows README.md as a newcomer would: it
// runs every command of the README's console blocks, in order, from the
// repository's folder, starting with `make lab` on a machine with no lab,
// and checks that each prints what the README shows. A command that
// changes the shell (eval, export) applies to every later one. A command
// whose output does not match yet is run again for a while, as a person
// would look again, since the lab converges in moments rather than at
// once.
func TestTheREADMEWorksAsWritten(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := transcript.Parse(string(doc))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if len(steps) == 0 || steps[0].Command != "make lab" {
		t.Fatalf("README.md's first console command is %+v, want make lab", steps[:min(1, len(steps))])
	}
	runMake(t, "lab-down") // a clean state, whatever an earlier run left
	t.Cleanup(func() { runMake(t, "lab-down") })

	shell := newReadmeShell(root)
	for _, step := range steps {
		out := shell.runUntilMatch(t, step)
		if step.Command == "make lab" {
			shell.prefix = labPrefix(t, out)
		}
	}

	// The README ends with make lab-down, which must leave nothing.
	if shell.prefix == "" {
		t.Fatal("make lab printed no lab prefix")
	}
	if out := runMake(t, "lab-down"); !strings.Contains(out, "No lab is running") {
		t.Errorf("make lab-down after the README's own said:\n%s", out)
	}
	if leftovers(t, shell.prefix, "/nonexistent", true) {
		t.Error("make lab-down left something behind")
	}
	if _, err := os.Stat("/run/bgplb-lab/lab.log"); err == nil {
		t.Error("make lab-down left the lab's log behind")
	}
}

// readmeShell runs the README's commands one by one in bash. Like the
// reader's shell, it keeps the environment that commands such as eval and
// export set up, also after the lab they point at is gone.
type readmeShell struct {
	dir string
	env []string
	// prefix is the running lab's, once make lab has printed it.
	prefix string
}

// newReadmeShell starts from a plain root shell: none of the lab's
// variables that the test's own environment may hold, and not inside a
// make (as under make test), which would make the README's make print
// the folders it enters.
func newReadmeShell(dir string) *readmeShell {
	s := &readmeShell{dir: dir}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name != "KUBECONFIG" && !strings.HasPrefix(name, "LAB_") && !slices.Contains([]string{"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}, name) {
			s.env = append(s.env, kv)
		}
	}
	return s
}

// envMarker separates a set-up command's output from the environment it
// leaves.
const envMarker = "\x00--- environment ---\x00"

// runUntilMatch runs step until its output is what the README shows, and
// returns the output. make runs once; other commands run again, a second
// apart, for up to 60 s.
func (s *readmeShell) runUntilMatch(t *testing.T, step transcript.Step) string {
	t.Helper()
	setsUp := strings.HasPrefix(step.Command, "eval ") || strings.HasPrefix(step.Command, "export ")
	timeout := 60 * time.Second
	if strings.HasPrefix(step.Command, "make ") {
		timeout = 0
	}
	attempt := 0
	var out string
	what := fmt.Sprintf("README.md:%d $ %s prints what the README shows", step.Line, step.Command)
	err := poll.UntilEvery(context.Background(), time.Second, timeout, what, func() (bool, string) {
		attempt++
		command := step.Command
		if setsUp {
			command += "\nprintf '" + strings.ReplaceAll(envMarker, "\x00", `\0`) + "'; env -0"
		}
		printed, err := s.run(command)
		printed, env, _ := strings.Cut(printed, envMarker)
		missing, ok := transcript.Match(step.Want, printed)
		// A command the README shows no output for must succeed and
		// print nothing; one with output is judged by it, as the README
		// also shows commands that fail on purpose.
		if len(step.Want) == 0 && err != nil {
			ok, missing = false, fmt.Sprintf("(exit status: %v)", err)
		}
		if !ok {
			return false, fmt.Sprintf("nothing matching the README's line\n  %s\noutput (%v):\n%s", missing, err, printed)
		}
		out = printed
		if setsUp {
			s.env = strings.Split(strings.TrimSuffix(env, "\x00"), "\x00")
		}
		return true, ""
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("README.md:%d $ %s (attempt %d)", step.Line, step.Command, attempt)
	return out
}

// run runs one command in bash with the shell's environment, and returns
// its output and error.
func (s *readmeShell) run(command string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", command)
	cmd.Dir, cmd.Env = s.dir, s.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// labPrefix finds the lab's prefix in make lab's output.
func labPrefix(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`/tmp/bgplb-lab-(bl[0-9a-f]{4})-`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("make lab printed no lab folder:\n%s", out)
	}
	return m[1]
}

// runMake runs a make target, with variables such as ROUTER=bird, in the
// repository and returns its output.
func runMake(t *testing.T, target string, vars ...string) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", append([]string{"--no-print-directory", target}, vars...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", target, err, out)
	}
	return string(out)
}
