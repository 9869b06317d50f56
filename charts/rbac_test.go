package charts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
	"github.com/bgplb/bgplb/internal/k8s/testenv"
	"github.com/bgplb/bgplb/internal/testpoll"
)

// installDeployManifest applies deploy/bgplb.yaml as kubectl apply
// --server-side -f does (again, if another test did) and returns an
// administrator's client.
func installDeployManifest(t *testing.T) client.Client {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "deploy", "bgplb.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := testenv.Objects(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.Apply(context.Background(), objs); err != nil {
		t.Fatalf("kubectl apply -f deploy/bgplb.yaml: %v", err)
	}
	return clientFor(t, cluster.Config)
}

// identity is a client acting as a ServiceAccount of the chart, with a
// token bound to a pod on a node, as the kubelet gives one to bgplb's
// containers.
func identity(t *testing.T, account, pod, node string) client.Client {
	t.Helper()
	token, err := cluster.PodToken(context.Background(), defaultNamespace, account, pod, node)
	if err != nil {
		t.Fatal(err)
	}
	return clientFor(t, cluster.ConfigWithToken(token))
}

// expectForbidden checks that the API server refused err's request for
// lack of permission, with a message containing every fragment.
func expectForbidden(t *testing.T, what string, err error, fragments ...string) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Errorf("%s: got %v, want Forbidden", what, err)
		return
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("%s: refusal %q does not say %q", what, err, f)
		}
	}
}

// expectAllowed checks that err is not a refusal: NotFound and the like
// mean the request got past authorization.
func expectAllowed(t *testing.T, what string, err error) {
	t.Helper()
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		t.Errorf("%s: %v", what, err)
	}
}

// TestTheSpeakerMayDoNoMoreThanItsJob checks, with real requests, that a
// speaker installed from deploy/bgplb.yaml cannot change Services, read
// Secrets outside its namespace, or write another node's BGPNodeStatus
// (refused by the chart's ValidatingAdmissionPolicy, which compares the
// object's name with the node its token is bound to), while it can do what
// it needs to.
func TestTheSpeakerMayDoNoMoreThanItsJob(t *testing.T) {
	admin := installDeployManifest(t)
	ctx := context.Background()
	speakerA := identity(t, "bgplb-speaker", "speaker-a", "node-a")
	svc := createService(t, admin, "default", "web")

	expectAllowed(t, "list Services", speakerA.List(ctx, &corev1.ServiceList{}))
	svc.Labels = map[string]string{"changed": "by-speaker"}
	expectForbidden(t, "update a Service", speakerA.Update(ctx, svc.DeepCopy()), "services")
	expectForbidden(t, "update a Service's status", speakerA.Status().Update(ctx, svc.DeepCopy()), "services/status")

	var secret corev1.Secret
	expectAllowed(t, "read a Secret of "+defaultNamespace, speakerA.Get(ctx, client.ObjectKey{Namespace: defaultNamespace, Name: "peer-password"}, &secret))
	expectForbidden(t, "read a Secret of default", speakerA.Get(ctx, client.ObjectKey{Namespace: "default", Name: "peer-password"}, &secret), "secrets")
	expectForbidden(t, "list Secrets cluster-wide", speakerA.List(ctx, &corev1.SecretList{}), "secrets")

	// The policy takes effect once the API server has loaded it; dry runs
	// pass admission without leaving an object behind.
	testpoll.Until(t, 20*time.Second, "the admission policy refuses node-a's speaker node-b's status", func() (bool, string) {
		err := speakerA.Create(ctx, &v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: "node-b"}}, client.DryRunAll)
		return apierrors.IsForbidden(err), fmt.Sprint(err)
	})
	expectForbidden(t, "create node-b's BGPNodeStatus",
		speakerA.Create(ctx, &v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: "node-b"}}), `belongs to node "node-a", not "node-b"`)
	own := &v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	if err := speakerA.Create(ctx, own); err != nil {
		t.Fatalf("create its own BGPNodeStatus: %v", err)
	}
	own.Status.SessionsEstablished = "1/1"
	if err := speakerA.Status().Update(ctx, own); err != nil {
		t.Errorf("update its own BGPNodeStatus's status: %v", err)
	}

	// The speaker of node-b wrote its status; node-a's may not touch it.
	speakerB := identity(t, "bgplb-speaker", "speaker-b", "node-b")
	other := &v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: "node-b"}}
	if err := speakerB.Create(ctx, other); err != nil {
		t.Fatalf("node-b's speaker creates its BGPNodeStatus: %v", err)
	}
	other.Status.SessionsEstablished = "0/1"
	expectForbidden(t, "update node-b's BGPNodeStatus's status", speakerA.Status().Update(ctx, other.DeepCopy()), `not "node-b"`)
	expectForbidden(t, "delete node-b's BGPNodeStatus", speakerA.Delete(ctx, other.DeepCopy()), "bgpnodestatuses")

	// A token of the speaker's account that no pod holds carries no node:
	// it may write no status at all.
	token, err := kubernetes.NewForConfigOrDie(cluster.Config).CoreV1().ServiceAccounts(defaultNamespace).
		CreateToken(ctx, "bgplb-speaker", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	unbound := clientFor(t, cluster.ConfigWithToken(token.Status.Token))
	expectForbidden(t, "create a BGPNodeStatus with a token bound to no pod",
		unbound.Create(ctx, &v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: "node-c"}}), "belongs to node none")
}

// TestTheControllerMayDoNoMoreThanItsJob checks that the controller
// installed from deploy/bgplb.yaml cannot create Pods or read any Secret
// (with default values it does not check password Secrets), and keeps its
// leader-election Lease to its own namespace, while it can write Service
// status.
func TestTheControllerMayDoNoMoreThanItsJob(t *testing.T) {
	admin := installDeployManifest(t)
	ctx := context.Background()
	controller := identity(t, "bgplb-controller", "controller-a", "node-a")
	svc := createService(t, admin, "default", "api")

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "intruder"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "bgplb.invalid/none"}}}}
	expectForbidden(t, "create a Pod", controller.Create(ctx, pod), "pods")
	var secret corev1.Secret
	for _, ns := range []string{defaultNamespace, "default"} {
		expectForbidden(t, "read a Secret of "+ns, controller.Get(ctx, client.ObjectKey{Namespace: ns, Name: "peer-password"}, &secret), "secrets")
	}
	expectForbidden(t, "create a BGPNodeStatus", controller.Create(ctx, &v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: "node-z"}}), "bgpnodestatuses")

	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.10"}}
	expectAllowed(t, "update a Service's status", controller.Status().Update(ctx, svc))
	lease := func(ns string) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bgplb-controller-test"}}
	}
	expectAllowed(t, "create a Lease in "+defaultNamespace, controller.Create(ctx, lease(defaultNamespace)))
	expectForbidden(t, "create a Lease in default", controller.Create(ctx, lease("default")), "leases")

	// What the API server says it may do agrees with the requests.
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets"},
	}}
	if err := controller.Create(ctx, review); err != nil || review.Status.Allowed {
		t.Errorf("the controller may list Secrets cluster-wide: %+v, %v", review.Status, err)
	}
}

func createService(t *testing.T, c client.Client, namespace, name string) *corev1.Service {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}},
	}
	if err := c.Create(context.Background(), svc); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(svc), svc); err != nil {
		t.Fatal(err)
	}
	return svc
}

func clientFor(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	scheme, err := kubeutil.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
