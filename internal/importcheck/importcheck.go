// Package importcheck lets a package's tests prove that it stays free of
// Kubernetes and GoBGP, which DESIGN.md keeps out of the pure packages.
package importcheck

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// NoKubernetesOrGoBGP fails the test if the package in the current
// directory (with its tests) depends on anything under k8s.io/,
// sigs.k8s.io/ or GoBGP. self is the package's import path; a listing that
// lacks it would make the check pass vacuously, so that fails too.
func NoKubernetesOrGoBGP(t *testing.T, self string) {
	t.Helper()
	deps := listDeps(t, self, "-deps", "-test", ".")
	for _, dep := range deps {
		if strings.HasPrefix(dep, "k8s.io/") || strings.HasPrefix(dep, "sigs.k8s.io/") || strings.Contains(dep, "gobgp") {
			t.Errorf("%s depends on %s; it must not import Kubernetes or GoBGP", self, dep)
		}
	}
}

// OnlyStandardLibrary fails the test if the package in the current
// directory (without its tests, which may use test helpers such as this
// one) depends on anything outside the standard library. self is the
// package's import path, as for NoKubernetesOrGoBGP.
func OnlyStandardLibrary(t *testing.T, self string) {
	t.Helper()
	deps := listDeps(t, self, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".")
	for _, dep := range deps {
		if dep != self {
			t.Errorf("%s depends on %s; it must import only the standard library", self, dep)
		}
	}
}

// listDeps runs go list with args and returns the import paths it prints,
// failing the test if self is not among them.
func listDeps(t *testing.T, self string, args ...string) []string {
	t.Helper()
	// go test puts the go command of its own GOROOT first on PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("cannot find the go command: %v", err)
	}
	out, err := exec.Command(goTool, append([]string{"list"}, args...)...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, self) {
		t.Fatalf("go list %s did not list %s; output:\n%s", strings.Join(args, " "), self, out)
	}
	return deps
}
