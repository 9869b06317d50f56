package bgp

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportsStayPure keeps the engine interface and the Fake free of
// GoBGP and Kubernetes: the speaker and its tests depend on this package,
// and only internal/bgp/gobgp may pull in GoBGP.
func TestImportsStayPure(t *testing.T) {
	// go test puts the go command of its own GOROOT first on PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("cannot find the go command: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-test", ".").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -deps: %v\n%s", err, stderr)
	}
	deps := strings.Fields(string(out))
	// A listing without this package would make the check pass vacuously.
	if !slices.Contains(deps, "github.com/bgplb/bgplb/internal/bgp") {
		t.Fatalf("go list -deps did not list internal/bgp; output:\n%s", out)
	}
	for _, dep := range deps {
		if strings.Contains(dep, "gobgp") || strings.HasPrefix(dep, "k8s.io/") || strings.HasPrefix(dep, "sigs.k8s.io/") {
			t.Errorf("internal/bgp depends on %s; only internal/bgp/gobgp may import GoBGP", dep)
		}
	}
}
