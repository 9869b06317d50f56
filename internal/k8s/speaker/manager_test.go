package speaker

// Tests of the manager's options and the session watch's Events on plain
// values, without an API server.

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
)

func TestOptionsWithDefaults(t *testing.T) {
	opts := Options{}.withDefaults()
	if opts.HealthAddr != "0" || opts.Logger == nil || opts.MetricsRegistry == nil {
		t.Errorf("defaults = health %q, logger %v, metrics registry %v; want 0 and both set", opts.HealthAddr, opts.Logger, opts.MetricsRegistry)
	}
	if opts := (Options{HealthAddr: ":8081"}).withDefaults(); opts.HealthAddr != ":8081" {
		t.Errorf("health address = %q, want :8081 as set", opts.HealthAddr)
	}
}

// The speaker caches only its own Node and the Secrets of its namespace.
func TestManagerOptionsCacheOnlyWhatTheNodeNeeds(t *testing.T) {
	mopts, err := managerOptions(Options{NodeName: "node-a", Namespace: "lb"}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	var node, secret *cache.ByObject
	for obj, by := range mopts.Cache.ByObject {
		switch obj.(type) {
		case *corev1.Node:
			node = &by
		case *corev1.Secret:
			secret = &by
		}
	}
	if node == nil || node.Field == nil {
		t.Fatalf("Nodes are cached without a field selector: %v", mopts.Cache.ByObject)
	}
	if !node.Field.Matches(fields.Set{"metadata.name": "node-a"}) || node.Field.Matches(fields.Set{"metadata.name": "node-b"}) {
		t.Errorf("Nodes are cached by %q, want node-a only", node.Field)
	}
	if secret == nil {
		t.Fatalf("Secrets are cached in every namespace: %v", mopts.Cache.ByObject)
	}
	if _, ok := secret.Namespaces["lb"]; !ok || len(secret.Namespaces) != 1 {
		t.Errorf("Secrets are cached in %v, want lb only", secret.Namespaces)
	}
}

func TestNewPreflight(t *testing.T) {
	if p := newPreflight(Options{}.withDefaults()); p != nil {
		t.Errorf("without CheckPermissions the preflight is %v, want none", p)
	}
	opts := Options{CheckPermissions: true, PermissionRecheck: 7 * time.Second}.withDefaults()
	p := newPreflight(opts)
	if p == nil {
		t.Fatal("with CheckPermissions there is no preflight")
	}
	if p.Logger != opts.Logger || p.MaxInterval != 7*time.Second {
		t.Errorf("preflight logs to %v and rechecks within %v; want the options' logger and 7s", p.Logger, p.MaxInterval)
	}
}

// A session problem becomes a Warning Event on its BGPPeer; a peer that
// cannot be read gets none.
func TestPeerWarningGoesToTheBGPPeer(t *testing.T) {
	scheme, err := kubeutil.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	reader := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(&v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "tor"}}).Build()
	rec := events.NewFakeRecorder(10)
	warn := peerWarning(reader, rec)

	warn(context.Background(), "tor", "SessionDown", "the session is down")
	select {
	case e := <-rec.Events:
		if !strings.Contains(e, corev1.EventTypeWarning) || !strings.Contains(e, "SessionDown") || !strings.Contains(e, "the session is down") {
			t.Errorf("event %q, want a Warning SessionDown saying the session is down", e)
		}
	default:
		t.Error("no Event for an existing peer")
	}

	warn(context.Background(), "gone", "SessionDown", "the session is down")
	select {
	case e := <-rec.Events:
		t.Errorf("event %q for a peer that does not exist, want none", e)
	default:
	}
}
