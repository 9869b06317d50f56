package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bgplb/bgplb/test/lab"
)

func TestTheLabLeavesNothingBehind(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := lab.Start(ctx, lab.Config{Nodes: 2, BinDir: binDir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if up, err := l.Router.Established(); err != nil {
		t.Fatalf("the router does not answer: %v (%v)", up, err)
	}
	apiserver := l.APIServerDir()
	if !leftovers(t, l.Prefix, l.Dir, false) || !leftovers(t, apiserver, apiserver, false) {
		t.Fatal("the running lab is not visible to the leftover check, so the check proves nothing")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if leftovers(t, l.Prefix, l.Dir, true) || leftovers(t, apiserver, apiserver, true) {
		t.Error("the lab left something behind")
	}
}

// leftovers reports namespaces, links, processes and files that carry the
// lab's prefix (or a directory that names its API server's processes),
// logging each when report is set.
func leftovers(t *testing.T, prefix, dir string, report bool) bool {
	t.Helper()
	found := false
	for _, probe := range [][]string{{"ip", "netns", "list"}, {"ip", "-o", "link", "show"}, {"ps", "-eo", "args"}} {
		out, err := exec.Command(probe[0], probe[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v", probe, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, prefix) && !strings.Contains(line, "ps -eo") {
				if report {
					t.Logf("%s: %s", probe[0]+" "+probe[1], line)
				}
				found = true
			}
		}
	}
	if mounts, err := os.ReadFile("/proc/mounts"); err == nil && strings.Contains(string(mounts), prefix) {
		if report {
			t.Logf("mount: a mount of %s remains", prefix)
		}
		found = true
	}
	for _, path := range []string{dir, "/var/run/frr/" + prefix + "-router"} {
		if _, err := os.Stat(path); err == nil {
			if report {
				t.Logf("file: %s", path)
			}
			found = true
		}
	}
	return found
}
