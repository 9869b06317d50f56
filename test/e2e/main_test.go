// Package e2e runs bgplb end to end in the network-namespace lab: a real
// API server, the real controller, real speakers and a real FRR router.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bgplb/bgplb/test/lab"
)

// binDir holds the controller, the speaker and bgplbctl built for this
// test run.
var binDir string

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	// A run killed on -timeout cleans nothing up: remove what such runs
	// left before this one adds its own.
	if dir := os.Getenv(abandonLabEnv); dir != "" {
		os.Exit(abandonLab(dir))
	}
	if err := lab.ReapStale(func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }); err != nil {
		fmt.Fprintln(os.Stderr, "remove what earlier labs left:", err)
	}
	dir, err := os.MkdirTemp("", "bgplb-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	// The lab runs the binaries as the chart's unprivileged user.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", dir+"/", "github.com/bgplb/bgplb/cmd/controller", "github.com/bgplb/bgplb/cmd/speaker", "github.com/bgplb/bgplb/cmd/bgplbctl")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	code := 1
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// abandonLabEnv, set to a directory of binaries, makes the test binary
// start a lab, print where it is and wait to be killed: a run that dies
// on -timeout, for the test that its lab is reaped.
const abandonLabEnv = "BGPLB_E2E_ABANDON_LAB"

// abandonedLab is what the lab of abandonLab prints, as JSON on one line.
type abandonedLab struct {
	Prefix, Dir, APIServerDir string
}

func abandonLab(binDir string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := lab.Start(ctx, lab.Config{Nodes: 1, BinDir: binDir, Neighbours: lab.DynamicNeighbours})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start lab:", err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(abandonedLab{l.Prefix, l.Dir, l.APIServerDir()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	select {} // until killed
}

// startLab builds a lab for one test and removes it when the test ends,
// also when it fails; on failure the logs of every daemon are printed.
func startLab(t *testing.T, nodes int) *lab.Lab {
	t.Helper()
	return startLabWith(t, lab.Config{Nodes: nodes})
}

// routerKinds are the routers the suite runs its families against where
// the router supports them; docs/routers.md lists which ran where.
var routerKinds = []string{"frr", "bird", "gobgp"}

// forEachRouter runs test once per router kind, as a subtest named after
// it.
func forEachRouter(t *testing.T, test func(t *testing.T, router string)) {
	forRouters(t, routerKinds, test)
}

// forRouters runs test once per router kind of routers, the ones that
// support what it tests.
func forRouters(t *testing.T, routers []string, test func(t *testing.T, router string)) {
	for _, router := range routers {
		t.Run(router, func(t *testing.T) { test(t, router) })
	}
}

func startLabWith(t *testing.T, cfg lab.Config) *lab.Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A test may run binaries of its own (taken out of the images);
	// every other test runs those built for this run.
	if cfg.BinDir == "" {
		cfg.BinDir = binDir
	}
	cfg.Logf = t.Logf
	// The suite meets the router as most users configure it: accepting
	// the nodes as dynamic neighbours. Tests that need one neighbour per
	// node say so.
	if cfg.Neighbours == "" {
		cfg.Neighbours = lab.DynamicNeighbours
	}
	l, err := lab.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(l.Dir, "*.log"))
			for _, f := range logs {
				data, _ := os.ReadFile(f)
				if len(data) > 6000 {
					data = data[len(data)-6000:]
				}
				t.Logf("==== %s (tail)\n%s", filepath.Base(f), data)
			}
		}
		if err := l.Close(); err != nil {
			t.Errorf("close lab: %v", err)
		}
	})
	return l
}
