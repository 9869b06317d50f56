package ociimage_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bgplb/bgplb/internal/ociimage"
	"github.com/bgplb/bgplb/internal/ociimage/ocitest"
)

// testOptions builds every shipped program's image for two platforms
// from fake binaries, with the real chart.
func testOptions(t *testing.T) (ociimage.Options, map[string]map[string]string) {
	t.Helper()
	opts := ociimage.Options{
		ModuleDir: moduleRoot(t),
		OutDir:    t.TempDir(),
		Source: ociimage.Source{
			Version:  "v0.1.0-2-gabcdef0",
			Revision: "abcdef0123456789abcdef0123456789abcdef01",
			URL:      "https://example.com/bgplb",
			Created:  time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		},
		Programs:      ociimage.Programs(),
		Platforms:     []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}},
		ImageRegistry: "registry.example.com/bgplb",
		ChartDir:      filepath.Join(moduleRoot(t), "charts", "bgplb"),
	}
	binaries := map[string]map[string]string{}
	for _, platform := range opts.Platforms {
		dir := ociimage.BinaryDir(t.TempDir(), platform)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		binaries[platform.String()] = map[string]string{}
		for _, p := range opts.Programs {
			path := filepath.Join(dir, p.Name)
			if err := os.WriteFile(path, []byte("fake "+p.Name+" for "+platform.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			binaries[platform.String()][p.Name] = path
		}
	}
	return opts, binaries
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestPushedImagesAndChartPullBack builds the images and the chart,
// pushes them to an in-process registry and checks them as pulled back,
// including through Helm's registry client.
func TestPushedImagesAndChartPullBack(t *testing.T) {
	opts, binaries := testOptions(t)
	result, err := ociimage.Assemble(opts, binaries)
	if err != nil {
		t.Fatal(err)
	}
	registry := ocitest.StartRegistry(t) + "/team/bgplb"
	pushed, err := ociimage.Push(t.Context(), opts.OutDir, ociimage.PushOptions{Registry: registry})
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, p := range pushed {
		refs = append(refs, p.Reference)
	}
	want := registry + "/bgplbctl:v0.1.0-2-gabcdef0 " + registry + "/charts/bgplb:0.1.0 " +
		registry + "/controller:v0.1.0-2-gabcdef0 " + registry + "/speaker:v0.1.0-2-gabcdef0"
	if got := strings.Join(refs, " "); got != want {
		t.Errorf("pushed %s\nwant   %s", got, want)
	}
	pulled := ocitest.CheckPulled(t, registry, opts, result)
	// The binary layer holds the binary for the image's platform.
	for program, images := range pulled {
		for platform, img := range images {
			dir := t.TempDir()
			ocitest.Unpack(t, img, dir)
			got, err := os.ReadFile(filepath.Join(dir, "usr", "local", "bin", program))
			if err != nil {
				t.Fatal(err)
			}
			if want := "fake " + program + " for " + platform; string(got) != want {
				t.Errorf("%s %s: binary %q, want %q", program, platform, got, want)
			}
		}
	}
	if len(pulled) != len(opts.Programs) {
		t.Errorf("pulled %d programs' images, want %d", len(pulled), len(opts.Programs))
	}
}

// TestBuildIsReproducible assembles twice into different folders and
// compares digests, archives and the chart; then checks that the
// creation time is what the timestamps come from.
func TestBuildIsReproducible(t *testing.T) {
	opts, binaries := testOptions(t)
	first, err := ociimage.Assemble(opts, binaries)
	if err != nil {
		t.Fatal(err)
	}
	again := opts
	again.OutDir = t.TempDir()
	second, err := ociimage.Assemble(again, binaries)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Artifacts) != len(opts.Programs)+1 {
		t.Fatalf("%d artifacts, want one per program and the chart", len(first.Artifacts))
	}
	for i, a := range first.Artifacts {
		b := second.Artifacts[i]
		if a.Digest != b.Digest {
			t.Errorf("%s: digest %s, then %s", a.Name, a.Digest, b.Digest)
		}
		if !sameFile(t, a.Archive, b.Archive) {
			t.Errorf("%s: archives %s and %s differ", a.Name, a.Archive, b.Archive)
		}
	}
	if !sameFile(t, first.ChartArchive, second.ChartArchive) {
		t.Errorf("chart archives %s and %s differ", first.ChartArchive, second.ChartArchive)
	}
	// A different commit time is a different image.
	later := opts
	later.OutDir = t.TempDir()
	later.Source.Created = later.Source.Created.Add(time.Second)
	third, err := ociimage.Assemble(later, binaries)
	if err != nil {
		t.Fatal(err)
	}
	if third.Artifacts[0].Digest == first.Artifacts[0].Digest {
		t.Errorf("the creation time does not change the digest")
	}
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	da, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(da, db)
}

// TestLayoutNamesTheImage checks the index.json of a layout: the tag as
// ref.name and the full name containerd and Docker import the archive as.
func TestLayoutNamesTheImage(t *testing.T) {
	opts, binaries := testOptions(t)
	result, err := ociimage.Assemble(opts, binaries)
	if err != nil {
		t.Fatal(err)
	}
	chart := result.Artifacts[len(result.Artifacts)-1]
	for _, tt := range []struct {
		layout string
		want   []string
	}{
		{result.Artifacts[0].Layout, []string{
			`"org.opencontainers.image.ref.name": "v0.1.0-2-gabcdef0"`,
			`"io.containerd.image.name": "registry.example.com/bgplb/controller:v0.1.0-2-gabcdef0"`,
		}},
		{chart.Layout, []string{
			`"org.opencontainers.image.ref.name": "0.1.0"`,
			`"io.containerd.image.name": "registry.example.com/bgplb/charts/bgplb:0.1.0"`,
		}},
	} {
		index, err := os.ReadFile(filepath.Join(tt.layout, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range tt.want {
			if !strings.Contains(string(index), want) {
				t.Errorf("%s/index.json lacks %s:\n%s", tt.layout, want, index)
			}
		}
	}
	if filepath.Base(chart.Archive) != "charts-bgplb.tar" {
		t.Errorf("chart archive %s, want charts-bgplb.tar", chart.Archive)
	}
}

func TestBadOptionsAreRefusedWithTheValue(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(*ociimage.Options, map[string]map[string]string)
		want   string
	}{
		{"a version that is no tag", func(o *ociimage.Options, _ map[string]map[string]string) { o.Source.Version = "v1 beta" }, `"v1 beta"`},
		{"a revision with a space", func(o *ociimage.Options, _ map[string]map[string]string) { o.Source.Revision = "abc def" }, `"abc def"`},
		{"no creation time", func(o *ociimage.Options, _ map[string]map[string]string) { o.Source.Created = time.Time{} }, "SOURCE_DATE_EPOCH"},
		{"a program named unlike its package", func(o *ociimage.Options, _ map[string]map[string]string) {
			o.Programs = append(o.Programs, ociimage.Program{Name: "ctl", Package: "./cmd/bgplbctl"})
		}, `"./cmd/bgplbctl"`},
		{"a missing binary", func(_ *ociimage.Options, b map[string]map[string]string) { delete(b["linux/arm64"], "speaker") }, "no speaker binary for linux/arm64"},
		{"a chart folder that does not exist", func(o *ociimage.Options, _ map[string]map[string]string) { o.ChartDir = "/nonexistent/chart" }, `"/nonexistent/chart"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts, binaries := testOptions(t)
			tt.change(&opts, binaries)
			_, err := ociimage.Assemble(opts, binaries)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestPushWithoutABuildSaysSo(t *testing.T) {
	_, err := ociimage.Push(t.Context(), t.TempDir(), ociimage.PushOptions{Registry: "127.0.0.1:1/x"})
	if err == nil || !strings.Contains(err.Error(), "make images first") {
		t.Errorf("error %v, want one telling to build first", err)
	}
}
