package ociimage_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestShippedCommandsDoNotLinkImageTooling keeps the image builder, its
// registry library and Helm out of every command: they are for building
// and publishing, and would only make the shipped binaries (and images)
// larger.
func TestShippedCommandsDoNotLinkImageTooling(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./cmd/...")
	cmd.Dir = moduleRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/google/go-containerregistry/", "helm.sh/", "github.com/bgplb/bgplb/internal/ociimage"} {
			if strings.HasPrefix(pkg, banned) {
				t.Errorf("a command under cmd/ depends on %s", pkg)
			}
		}
	}
}
