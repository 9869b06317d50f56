package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/ociimage"
	"github.com/bgplb/bgplb/internal/ociimage/ocitest"
	"github.com/bgplb/bgplb/test/lab"
)

// TestImagesRunInTheLab builds the real images (every program, both
// architectures) and the chart as make images does, pushes them to an
// in-process registry as make push does, pulls them back and checks
// them, then unpacks this machine's images and runs the lab's main
// scenario with the binaries taken out of them: a Service announced by
// every node and load-balanced across all of them.
func TestImagesRunInTheLab(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	opts := ociimage.Options{
		ModuleDir: root,
		OutDir:    t.TempDir(),
		Source: ociimage.Source{
			Version:  "v0.0.0-e2e",
			Revision: "0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e",
			URL:      "https://example.com/bgplb",
			Created:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		},
		Programs:  ociimage.Programs(),
		Platforms: []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}},
		ChartDir:  filepath.Join(root, "charts", "bgplb"),
		Logf:      t.Logf,
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	result, err := ociimage.Build(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built the images in %s", time.Since(start).Round(time.Second))
	for _, a := range result.Artifacts {
		for _, s := range a.Sizes {
			if s.Platform == "" {
				t.Logf("chart %s: %d bytes", a.Name, s.Bytes)
				continue
			}
			t.Logf("%s %s: %d bytes compressed", a.Name, s.Platform, s.Bytes)
			// The budget the README states for each image.
			if s.Bytes > 30e6 {
				t.Errorf("%s %s is %d bytes compressed, over 30 MB", a.Name, s.Platform, s.Bytes)
			}
		}
	}

	registry := ocitest.StartRegistry(t) + "/bgplb"
	if _, err := ociimage.Push(ctx, opts.OutDir, ociimage.PushOptions{Registry: registry}); err != nil {
		t.Fatal(err)
	}
	pulled := ocitest.CheckPulled(t, registry, opts, result)
	if t.Failed() {
		t.FailNow()
	}

	// The unpacked filesystem stands for a container's root: readable by
	// the unprivileged user the lab runs the binaries as, which a test's
	// own temporary folder is not.
	fsRoot, err := os.MkdirTemp("", "bgplb-image-root-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(fsRoot) })
	if err := os.Chmod(fsRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	host := "linux/" + runtime.GOARCH
	for _, program := range []string{"controller", "speaker", "bgplbctl"} {
		img, ok := pulled[program][host]
		if !ok {
			t.Fatalf("no %s image for %s", program, host)
		}
		ocitest.Unpack(t, img, fsRoot)
	}
	bin := filepath.Join(fsRoot, "usr", "local", "bin")
	for _, program := range []string{"controller", "speaker", "bgplbctl"} {
		out, err := exec.Command(filepath.Join(bin, program), "--version").Output()
		if err != nil {
			t.Fatalf("%s --version: %v", program, err)
		}
		if want := "bgplb " + program + " " + opts.Source.Version + " (revision " + opts.Source.Revision; !strings.HasPrefix(string(out), want) {
			t.Errorf("%s --version printed %q, want %q…", program, out, want)
		}
	}

	l := startLabWith(t, lab.Config{Nodes: 3, BinDir: bin})
	configure(t, l, v1alpha1.BGPAdvertisementSpec{Communities: []v1alpha1.Community{"64512:100"}})
	svc := createService(t, l, "web", false)
	if err := l.SetEndpoints(context.Background(), svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addr := serviceAddrs(t, l, svc, 1)[0]
	assertLoadBalancedAcrossEveryNode(t, l, addr)
}
