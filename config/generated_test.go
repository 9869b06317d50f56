// Package config holds bgplb's generated manifests; its test keeps them in
// step with the Go types.
package config

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedFilesAreCurrent regenerates the CRDs, the RBAC role and the
// deep-copy code from a copy of the source tree and fails if any checked-in
// file differs: run `make generate` after changing API types or RBAC markers.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	controllerGen := filepath.Join(work, "controller-gen")
	build := exec.Command("go", "build", "-o", controllerGen, "sigs.k8s.io/controller-tools/cmd/controller-gen")
	build.Dir = filepath.Join(root, "hack", "tools")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build controller-gen: %v\n%s", err, out)
	}

	tree := filepath.Join(work, "tree")
	for _, name := range []string{"go.mod", "go.sum", "api", "internal"} {
		copyPath(t, filepath.Join(root, name), filepath.Join(tree, name))
	}
	gen := exec.Command(controllerGen,
		"object", "paths=./api/...")
	gen.Dir = tree
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen object: %v\n%s", err, out)
	}
	gen = exec.Command(controllerGen, "crd", "paths=./api/...", "output:crd:artifacts:config=config/crd")
	gen.Dir = tree
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen crd: %v\n%s", err, out)
	}
	for _, component := range []string{"controller", "speaker"} {
		gen = exec.Command(controllerGen, "rbac:roleName=bgplb-"+component, "paths=./internal/k8s/"+component+"/...", "output:rbac:artifacts:config=config/rbac/"+component)
		gen.Dir = tree
		if out, err := gen.CombinedOutput(); err != nil {
			t.Fatalf("controller-gen rbac for the %s: %v\n%s", component, err, out)
		}
	}

	compared := 0
	for _, dir := range []string{"config/crd", "config/rbac/controller", "config/rbac/speaker", "api/v1alpha1"} {
		entries, err := os.ReadDir(filepath.Join(tree, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := filepath.Join(dir, e.Name())
			if dir == "api/v1alpha1" && !strings.HasPrefix(e.Name(), "zz_generated") {
				continue
			}
			want, _ := os.ReadFile(filepath.Join(tree, name))
			got, err := os.ReadFile(filepath.Join(root, name))
			if err != nil {
				t.Errorf("%s is generated but not checked in; run make generate", name)
				continue
			}
			compared++
			if !bytes.Equal(got, want) {
				t.Errorf("%s is stale; run make generate", name)
			}
		}
	}
	if compared < 5 {
		t.Fatalf("compared only %d generated files; the generator output moved", compared)
	}
}

func copyPath(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", from, err)
	}
}
