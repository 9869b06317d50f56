package announce

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportsStayPure keeps the package free of Kubernetes and GoBGP: it is
// meant to be testable with plain Go values, and an accidental import would
// quietly drag in a large dependency tree. It asks the go command for the
// dependencies of the package and its tests.
func TestImportsStayPure(t *testing.T) {
	// go test puts the go command of its own GOROOT first on PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("cannot find the go command: %v", err)
	}
	cmd := exec.Command(goTool, "list", "-deps", "-test", ".")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -deps: %v\n%s", err, stderr)
	}
	deps := strings.Fields(string(out))
	// Guard against a listing that is empty or of the wrong package, which
	// would make the check below pass vacuously.
	for _, want := range []string{"net/netip", "github.com/bgplb/bgplb/internal/announce"} {
		if !slices.Contains(deps, want) {
			t.Fatalf("go list -deps did not list %s; output:\n%s", want, out)
		}
	}
	for _, dep := range deps {
		if strings.HasPrefix(dep, "k8s.io/") || strings.HasPrefix(dep, "sigs.k8s.io/") || strings.Contains(dep, "gobgp") {
			t.Errorf("internal/announce depends on %s; it must not import Kubernetes or GoBGP", dep)
		}
	}
}
