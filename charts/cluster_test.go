package charts

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/bgplb/bgplb/internal/k8s/testenv"
)

// cluster is the real API server of the tests that install the chart. It
// starts without bgplb's CRDs: installing them is part of what is tested.
// TestMain sets it once and every test only reads it.
var cluster *testenv.Env

func TestMain(m *testing.M) {
	env, err := testenv.StartWith(testenv.Options{WithoutCRDs: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start API server:", err)
		os.Exit(1)
	}
	cluster = env
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop API server:", err)
	}
	os.Exit(code)
}

// helmConfiguration is the Helm SDK's configuration for namespace, talking
// to the test API server through a kubeconfig as the helm command does.
func helmConfiguration(t *testing.T, namespace string) *action.Configuration {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	flags.Namespace = &namespace
	cfg := action.NewConfiguration()
	cfg.SetLogger(slog.NewTextHandler(io.Discard, nil))
	if err := cfg.Init(flags, namespace, "secret"); err != nil {
		t.Fatalf("helm configuration: %v", err)
	}
	return cfg
}

// TestHelmInstallsUpgradesAndUninstallsTheChart runs the chart's life
// through the Helm SDK's actions, as helm install, upgrade and uninstall
// do: every object is created, an upgrade changes what its values say, and
// uninstall removes everything but the CRDs.
func TestHelmInstallsUpgradesAndUninstallsTheChart(t *testing.T) {
	const release, namespace = "lifecycle", "lifecycle-system"
	cfg := helmConfiguration(t, namespace)

	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace, install.CreateNamespace = release, namespace, true
	install.KubeVersion = kubeVersion(t)
	// There is no kubelet: waiting for pods to be ready would never end.
	install.WaitStrategy = kube.HookOnlyStrategy
	install.Timeout = time.Minute
	rel, err := install.Run(loadChart(t), nil)
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	installed := objects(t, rel.(*releasev1.Release).Manifest)
	assertPresent(t, installed)
	assertCRDsServed(t)
	if got := deploymentArgs(t, namespace, "lifecycle-bgplb-controller"); !slices.Contains(got, "--metrics-secure=true") {
		t.Errorf("installed controller args %v, want --metrics-secure=true", got)
	}

	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace = namespace
	upgrade.WaitStrategy = kube.HookOnlyStrategy
	upgrade.Timeout = time.Minute
	values := map[string]any{"metrics": map[string]any{"secure": false}, "controller": map[string]any{"replicas": 1}}
	rel, err = upgrade.Run(release, loadChart(t), values)
	if err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	upgraded := objects(t, rel.(*releasev1.Release).Manifest)
	assertPresent(t, upgraded)
	if got := deploymentArgs(t, namespace, "lifecycle-bgplb-controller"); !slices.Contains(got, "--metrics-secure=false") || !slices.Contains(got, "--leader-elect=false") {
		t.Errorf("upgraded controller args %v, want --metrics-secure=false and --leader-elect=false", got)
	}
	// One replica has no disruption budget: the upgrade removed it.
	assertAbsent(t, []*unstructured.Unstructured{find(installed, "PodDisruptionBudget", "lifecycle-bgplb-controller")})

	uninstall := action.NewUninstall(cfg)
	uninstall.WaitStrategy = kube.HookOnlyStrategy
	uninstall.Timeout = time.Minute
	if _, err := uninstall.Run(release); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	assertAbsent(t, append(installed, upgraded...))
	assertCRDsServed(t)
	clients := kubernetes.NewForConfigOrDie(cluster.Config)
	secrets, err := clients.CoreV1().Secrets(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil || len(secrets.Items) > 0 {
		t.Errorf("after uninstall the release's history is %d Secrets (%v), want none", len(secrets.Items), err)
	}
}

// TestEveryRenderedObjectIsAccepted server-side applies the chart rendered
// with each value set of the golden files, CRDs first, into its own
// namespace; the API server must accept every object.
func TestEveryRenderedObjectIsAccepted(t *testing.T) {
	crds, err := testenv.Objects(chartCRDs(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.Apply(context.Background(), crds); err != nil {
		t.Fatalf("the API server refused a CRD: %v", err)
	}
	for name, values := range valueSets {
		t.Run(name, func(t *testing.T) {
			release := "ssa-" + name
			createNamespace(t, release)
			manifest, _, err := render(t, release, release, values)
			if err != nil {
				t.Fatal(err)
			}
			var objs []*unstructured.Unstructured
			for _, o := range objects(t, manifest) {
				// ServiceMonitors need Prometheus Operator's CRDs, which
				// this API server does not have.
				if o.GetKind() != "ServiceMonitor" {
					objs = append(objs, o)
				}
			}
			if err := cluster.Apply(context.Background(), objs); err != nil {
				t.Fatalf("the API server refused the rendering: %v", err)
			}
			assertPresent(t, objs)
		})
	}
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	clients := kubernetes.NewForConfigOrDie(cluster.Config)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := clients.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// resource returns the dynamic client of an object's kind.
func resource(t *testing.T, o *unstructured.Unstructured) dynamic.ResourceInterface {
	t.Helper()
	groups, err := restmapper.GetAPIGroupResources(discovery.NewDiscoveryClientForConfigOrDie(cluster.Config))
	if err != nil {
		t.Fatalf("discover resources: %v", err)
	}
	gvk := o.GroupVersionKind()
	mapping, err := restmapper.NewDiscoveryRESTMapper(groups).RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatalf("resource of %s: %v", gvk, err)
	}
	dyn := dynamic.NewForConfigOrDie(cluster.Config)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return dyn.Resource(mapping.Resource).Namespace(o.GetNamespace())
	}
	return dyn.Resource(mapping.Resource)
}

func assertPresent(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if _, err := resource(t, o).Get(context.Background(), o.GetName(), metav1.GetOptions{}); err != nil {
			t.Errorf("%s %s: %v", o.GetKind(), describe(o), err)
		}
	}
}

func assertAbsent(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if o == nil {
			t.Error("an object expected to have been rendered was not")
			continue
		}
		got, err := resource(t, o).Get(context.Background(), o.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			t.Errorf("%s %s: %v", o.GetKind(), describe(o), err)
		// Objects with dependents may still be on their way out.
		case got.GetDeletionTimestamp() == nil:
			t.Errorf("%s %s is still there", o.GetKind(), describe(o))
		}
	}
}

func describe(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return ns + "/" + o.GetName()
	}
	return o.GetName()
}

// assertCRDsServed checks that every CRD of the chart is in the cluster.
func assertCRDsServed(t *testing.T) {
	t.Helper()
	crds, err := testenv.Objects(chartCRDs(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) == 0 {
		t.Fatal("the chart has no CRDs")
	}
	assertPresent(t, crds)
}

func deploymentArgs(t *testing.T, namespace, name string) []string {
	t.Helper()
	clients := kubernetes.NewForConfigOrDie(cluster.Config)
	d, err := clients.AppsV1().Deployments(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("deployment %s/%s: %v", namespace, name, err)
	}
	return d.Spec.Template.Spec.Containers[0].Args
}
