package ocitest

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	helmregistry "helm.sh/helm/v4/pkg/registry"

	"github.com/bgplb/bgplb/internal/ociimage"
)

// Pulled holds each program's images as pulled back, by program name,
// then platform ("linux/amd64").
type Pulled map[string]map[string]v1.Image

// CheckPulled pulls every artifact of result from the registry and checks
// what a container runtime and Helm rely on: each program's tag is one
// index with an image per platform, of that architecture, running the
// program's binary as the non-root user, labelled with the source; the
// base files are there with the right owners and modes; and the chart
// comes back with Helm's media types through Helm's own registry client.
func CheckPulled(t *testing.T, registry string, opts ociimage.Options, result *ociimage.Result) Pulled {
	t.Helper()
	pulled := Pulled{}
	for _, artifact := range result.Artifacts {
		ref, err := name.NewTag(registry + "/" + artifact.Repository + ":" + artifact.Tag)
		if err != nil {
			t.Fatalf("reference of %s: %v", artifact.Name, err)
		}
		if artifact.MediaType == types.OCIImageIndex {
			pulled[artifact.Name] = checkProgram(t, ref, artifact, opts)
		} else {
			checkChart(t, ref, artifact, opts.Source)
		}
	}
	return pulled
}

func checkProgram(t *testing.T, ref name.Tag, artifact ociimage.Artifact, opts ociimage.Options) map[string]v1.Image {
	t.Helper()
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	if digest, err := idx.Digest(); err != nil || digest != artifact.Digest {
		t.Errorf("%s: digest %v (%v), built %v", ref, digest, err, artifact.Digest)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("%s: index manifest: %v", ref, err)
	}
	if manifest.MediaType != types.OCIImageIndex {
		t.Errorf("%s: media type %q, want an OCI index", ref, manifest.MediaType)
	}
	checkAnnotations(t, ref.String()+" index", manifest.Annotations, opts.Source)
	var platforms []string
	images := map[string]v1.Image{}
	for _, desc := range manifest.Manifests {
		if desc.Platform == nil {
			t.Errorf("%s: manifest %s has no platform", ref, desc.Digest)
			continue
		}
		platform := desc.Platform.String()
		platforms = append(platforms, platform)
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatalf("%s %s: %v", ref, platform, err)
		}
		images[platform] = img
		checkImage(t, ref.String()+" "+platform, img, *desc.Platform, artifact.Name, opts.Source)
	}
	var want []string
	for _, p := range opts.Platforms {
		want = append(want, p.String())
	}
	if !slices.Equal(platforms, want) {
		t.Errorf("%s: platforms %v, want %v", ref, platforms, want)
	}
	return images
}

func checkImage(t *testing.T, what string, img v1.Image, platform v1.Platform, program string, src ociimage.Source) {
	t.Helper()
	config, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("%s: config: %v", what, err)
	}
	if config.OS != platform.OS || config.Architecture != platform.Architecture {
		t.Errorf("%s: config is for %s/%s", what, config.OS, config.Architecture)
	}
	binary := "/usr/local/bin/" + program
	if !slices.Equal(config.Config.Entrypoint, []string{binary}) || len(config.Config.Cmd) != 0 {
		t.Errorf("%s: entrypoint %q, cmd %q; want [%q] and no cmd", what, config.Config.Entrypoint, config.Config.Cmd, binary)
	}
	if config.Config.User != "65532:65532" {
		t.Errorf("%s: user %q, want 65532:65532", what, config.Config.User)
	}
	if !config.Created.Time.Equal(src.Created) {
		t.Errorf("%s: created %s, want the source's %s", what, config.Created.Time, src.Created)
	}
	checkAnnotations(t, what+" labels", config.Config.Labels, src)
	manifest, err := img.Manifest()
	if err != nil {
		t.Fatalf("%s: manifest: %v", what, err)
	}
	checkAnnotations(t, what+" manifest", manifest.Annotations, src)
	for _, l := range manifest.Layers {
		if l.MediaType != types.OCILayer {
			t.Errorf("%s: layer %s has media type %q, want %q", what, l.Digest, l.MediaType, types.OCILayer)
		}
	}
	files := listFiles(t, what, img)
	want := map[string]string{
		"etc":                      "dir 0755 0:0",
		"etc/group":                "file 0644 0:0",
		"etc/passwd":               "file 0644 0:0",
		"tmp":                      "dir 1777 0:0",
		"usr":                      "dir 0755 0:0",
		"usr/local":                "dir 0755 0:0",
		"usr/local/bin":            "dir 0755 0:0",
		"usr/local/bin/" + program: "file 0755 0:0",
	}
	for path, got := range files.kinds {
		if want[path] != got {
			t.Errorf("%s: %s is %q, want %q", what, path, got, want[path])
		}
	}
	for path, w := range want {
		if _, ok := files.kinds[path]; !ok {
			t.Errorf("%s: no %s (want %s); has %v", what, path, w, slices.Sorted(maps.Keys(files.kinds)))
		}
	}
	if !strings.Contains(files.contents["etc/passwd"], "nonroot:x:65532:65532:") || !strings.Contains(files.contents["etc/group"], "nonroot:x:65532:") {
		t.Errorf("%s: no nonroot user 65532 in passwd %q, group %q", what, files.contents["etc/passwd"], files.contents["etc/group"])
	}
	for path, mtime := range files.mtimes {
		if !mtime.Equal(src.Created) {
			t.Errorf("%s: %s has time %s, want the source's %s", what, path, mtime, src.Created)
		}
	}
}

// fileList is an image's filesystem as the tar headers tell it.
type fileList struct {
	kinds    map[string]string // "file 0644 0:0"
	contents map[string]string // of the files under etc/
	mtimes   map[string]time.Time
}

func listFiles(t *testing.T, what string, img v1.Image) fileList {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := fileList{kinds: map[string]string{}, contents: map[string]string{}, mtimes: map[string]time.Time{}}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("%s: read filesystem: %v", what, err)
		}
		kind := "file"
		if h.Typeflag == tar.TypeDir {
			kind = "dir"
		} else if h.Typeflag != tar.TypeReg {
			kind = fmt.Sprintf("type %q", h.Typeflag)
		}
		files.kinds[h.Name] = fmt.Sprintf("%s %04o %d:%d", kind, h.Mode, h.Uid, h.Gid)
		files.mtimes[h.Name] = h.ModTime
		if strings.HasPrefix(h.Name, "etc/") && h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("%s: read %s: %v", what, h.Name, err)
			}
			files.contents[h.Name] = string(data)
		}
	}
}

func checkAnnotations(t *testing.T, what string, got map[string]string, src ociimage.Source) {
	t.Helper()
	for key, want := range map[string]string{
		"org.opencontainers.image.source":   src.URL,
		"org.opencontainers.image.version":  src.Version,
		"org.opencontainers.image.revision": src.Revision,
	} {
		if got[key] != want {
			t.Errorf("%s: %s is %q, want %q", what, key, got[key], want)
		}
	}
}

// checkChart pulls the chart as a generic OCI image (media types) and
// then with Helm's registry client, which is what helm pull and helm
// install oci:// use.
func checkChart(t *testing.T, ref name.Tag, artifact ociimage.Artifact, src ociimage.Source) {
	t.Helper()
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	manifest, err := img.Manifest()
	if err != nil {
		t.Fatalf("%s: manifest: %v", ref, err)
	}
	if manifest.MediaType != types.OCIManifestSchema1 || manifest.Config.MediaType != ociimage.HelmConfigMediaType ||
		len(manifest.Layers) != 1 || manifest.Layers[0].MediaType != ociimage.HelmChartMediaType {
		t.Errorf("%s: manifest %q with config %q and layers %+v; want an OCI manifest with config %q and one layer %q",
			ref, manifest.MediaType, manifest.Config.MediaType, manifest.Layers, ociimage.HelmConfigMediaType, ociimage.HelmChartMediaType)
	}
	if manifest.Annotations["org.opencontainers.image.version"] != artifact.Tag {
		t.Errorf("%s: version annotation %q, want the chart version %q", ref, manifest.Annotations["org.opencontainers.image.version"], artifact.Tag)
	}

	client, err := helmregistry.NewClient(helmregistry.ClientOptPlainHTTP(),
		helmregistry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "registry.json")))
	if err != nil {
		t.Fatalf("helm registry client: %v", err)
	}
	result, err := client.Pull(ref.String(), helmregistry.PullOptWithChart(true))
	if err != nil {
		t.Fatalf("helm pull %s: %v", ref, err)
	}
	if result.Chart.Meta.Version != artifact.Tag || result.Chart.Meta.AppVersion != src.Version {
		t.Errorf("helm pull %s: chart version %q, appVersion %q; want %q and the images' %q",
			ref, result.Chart.Meta.Version, result.Chart.Meta.AppVersion, artifact.Tag, src.Version)
	}
	chart, err := loader.LoadArchive(strings.NewReader(string(result.Chart.Data)))
	if err != nil {
		t.Fatalf("helm pull %s: the archive does not load: %v", ref, err)
	}
	if len(chart.Templates) == 0 {
		t.Errorf("helm pull %s: the chart has no templates", ref)
	}
}
