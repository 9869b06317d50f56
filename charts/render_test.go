package charts

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bgplb/bgplb/internal/k8s/testenv"
)

// chartDir is the chart under test, relative to this package.
const chartDir = "bgplb"

// Release names and namespaces: the defaults that deploy/bgplb.yaml and
// the documentation use.
const (
	defaultRelease   = "bgplb"
	defaultNamespace = "bgplb-system"
)

// loadChart loads the chart from its directory, as `helm install ./bgplb`
// does.
func loadChart(t *testing.T) *chartv2.Chart {
	t.Helper()
	ch, err := loader.LoadDir(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return ch
}

// render renders the chart as `helm template` does, with schema validation,
// and returns the manifest (without CRDs) and the notes.
func render(t *testing.T, release, namespace string, values map[string]any) (manifest, notes string, err error) {
	t.Helper()
	cfg := action.NewConfiguration()
	cfg.SetLogger(slog.NewTextHandler(io.Discard, nil))
	install := action.NewInstall(cfg)
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = release
	install.Namespace = namespace
	install.Replace = true
	install.KubeVersion = kubeVersion(t)
	rel, err := install.Run(loadChart(t), values)
	if err != nil {
		return "", "", err
	}
	r, ok := rel.(*releasev1.Release)
	if !ok {
		return "", "", fmt.Errorf("install returned a %T, not a release", rel)
	}
	return r.Manifest, r.Info.Notes, nil
}

// kubeVersion is the Kubernetes release bgplb is built against, which
// helm template would otherwise guess as an old one.
func kubeVersion(t *testing.T) *common.KubeVersion {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	version, err := testenv.KubeVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := common.ParseKubeVersion(version)
	if err != nil {
		t.Fatalf("parse Kubernetes version %q: %v", version, err)
	}
	return kv
}

// mustRender is render that fails the test on error.
func mustRender(t *testing.T, values map[string]any) string {
	t.Helper()
	manifest, _, err := render(t, defaultRelease, defaultNamespace, values)
	if err != nil {
		t.Fatalf("render chart with %v: %v", values, err)
	}
	return manifest
}

// objects splits a manifest into its objects, skipping empty documents.
func objects(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := testenv.Objects([]byte(manifest))
	if err != nil {
		t.Fatalf("parse rendered manifest: %v", err)
	}
	return objs
}

// find returns the rendered object of a kind and name, or nil.
func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// chartCRDs returns the chart's CRDs in file name order, as Helm installs
// them.
func chartCRDs(t *testing.T) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, f := range loadChart(t).CRDObjects() {
		out.WriteString("---\n")
		out.Write(bytes.TrimPrefix(f.File.Data, []byte("---\n")))
	}
	return out.Bytes()
}

// update rewrites golden files instead of comparing with them:
// go test ./charts -update.
var update = flag.Bool("update", false, "rewrite the golden files and deploy/bgplb.yaml from the chart")

// compareGolden compares got with a file, or rewrites the file on update.
func compareGolden(t *testing.T, path string, got []byte, how string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; %s", err, how)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering (first difference at line %d); %s", path, firstDifferentLine(got, want), how)
	}
}

func firstDifferentLine(a, b []byte) int {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}
