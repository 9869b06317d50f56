package testenv

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The Kubernetes tools the tests and the lab run are built at the release
// of our client-go, kube-proxy among them.
func TestTheKubernetesToolsAreBuiltAtOurRelease(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	version, err := KubeVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"kube-apiserver", "kube-proxy"} {
		out, err := exec.Command(filepath.Join(dir, tool), "--version").Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != "Kubernetes "+version {
			t.Errorf("%s --version: %q (%v), want %q", tool, got, err, "Kubernetes "+version)
		}
	}
	out, err := exec.Command(filepath.Join(dir, "kubectl"), "version", "--client").Output()
	if err != nil || !strings.Contains(string(out), "Client Version: "+version) {
		t.Errorf("kubectl version --client: %q (%v), want client version %s", out, err, version)
	}
}
