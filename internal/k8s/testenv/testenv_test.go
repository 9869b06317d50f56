package testenv

import (
	"os"
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

// A named environment's directory matches the glob for its name and no
// other name's, so a lab reaps its own API server's files and not another
// lab's.
func TestDirGlobMatchesTheDirectoriesOfItsNameOnly(t *testing.T) {
	dir, err := os.MkdirTemp(tmpfsDir(), dirPrefix("bl12ab"))
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	for _, tc := range []struct {
		name string
		want bool
	}{{"bl12ab", true}, {"bl12ac", false}, {"bl12a", false}} {
		if got, err := filepath.Match(DirGlob(tc.name), dir); err != nil || got != tc.want {
			t.Errorf("DirGlob(%q) matches %s: %v (%v), want %v", tc.name, dir, got, err, tc.want)
		}
	}
}
