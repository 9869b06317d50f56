package access_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/k8s/access"
	"github.com/bgplb/bgplb/internal/k8s/controller"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
	"github.com/bgplb/bgplb/internal/k8s/speaker"
	"github.com/bgplb/bgplb/internal/k8s/testenv"
	"github.com/bgplb/bgplb/internal/testpoll"
)

var (
	env       *testenv.Env
	k8sClient client.Client
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	var err error
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if scheme, err := kubeutil.Scheme(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else if k8sClient, err = client.New(env.Config, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop API server:", err)
	}
	os.Exit(code)
}

// logs keeps every record a component logs, for tests to count.
type logs struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logs) WithGroup(string) slog.Handler            { return l }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}

// matching returns the records at level whose message contains text.
func (l *logs) matching(level slog.Level, text string) []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []slog.Record
	for _, r := range l.records {
		if r.Level == level && strings.Contains(r.Message, text) {
			out = append(out, r)
		}
	}
	return out
}

// attr returns the value of a record's attribute.
func attr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// without returns the ClusterRole with its rules rewritten one permission
// per rule, leaving out the permission p.
func without(cr *rbacv1.ClusterRole, p access.Permission) *rbacv1.ClusterRole {
	out := cr.DeepCopy()
	out.Rules = nil
	for _, rule := range cr.Rules {
		for _, group := range rule.APIGroups {
			for _, res := range rule.Resources {
				for _, verb := range rule.Verbs {
					resource := p.Resource
					if p.Subresource != "" {
						resource += "/" + p.Subresource
					}
					if group == p.Group && res == resource && verb == p.Verb {
						continue
					}
					out.Rules = append(out.Rules, rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{res}, Verbs: []string{verb}})
				}
			}
		}
	}
	return out
}

// serviceAccount creates the ServiceAccount systemNamespace/account bound
// to the roles of config/rbac/<component>/role.yaml, renamed after the
// account, with the permission p left out of the ClusterRole. It returns
// the account's token and a function that grants p.
func serviceAccount(t *testing.T, component, account string, p access.Permission) (token string, grant func()) {
	t.Helper()
	ctx := context.Background()
	objects, err := testenv.ReadManifests("config/rbac/" + component + "/role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var full *rbacv1.ClusterRole
	var roles []runtime.Object
	for _, obj := range objects {
		switch r := obj.(type) {
		case *rbacv1.ClusterRole:
			r.Name = account
			full = r.DeepCopy()
			roles = append(roles, without(r, p))
		case *rbacv1.Role:
			r.Name = account
			roles = append(roles, r)
		}
	}
	if full == nil {
		t.Fatalf("config/rbac/%s/role.yaml has no ClusterRole", component)
	}
	if token, err = env.ServiceAccountTokenWithRoles(ctx, systemNamespace, account, roles...); err != nil {
		t.Fatal(err)
	}
	return token, func() {
		t.Helper()
		var cur rbacv1.ClusterRole
		if err := k8sClient.Get(ctx, client.ObjectKey{Name: account}, &cur); err != nil {
			t.Fatal(err)
		}
		cur.Rules = full.Rules
		if err := k8sClient.Update(ctx, &cur); err != nil {
			t.Fatalf("grant %s: %v", p, err)
		}
	}
}

// running starts mgr and returns a function that tells whether Start has
// returned, with its error, and one that stops it; the manager stops at
// the end of the test at the latest.
func running(t *testing.T, mgr manager.Manager) (ended func() (bool, error), stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	var result error
	var finished bool
	ended = func() (bool, error) {
		select {
		case err := <-done:
			once.Do(func() { finished, result = true, err })
		default:
		}
		return finished, result
	}
	t.Cleanup(func() {
		cancel()
		if ok, _ := ended(); !ok {
			select {
			case err := <-done:
				once.Do(func() { finished, result = true, err })
			case <-time.After(30 * time.Second):
				t.Errorf("the manager did not stop within 30 s of being told to")
			}
		}
		if result != nil {
			t.Errorf("manager ended with an error: %v", result)
		}
	})
	return ended, cancel
}

// healthAddr returns a free address for a component's health probes.
func healthAddr(t *testing.T) string {
	t.Helper()
	port, err := testenv.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// probe returns the status code of a health endpoint, 0 if it does not
// answer.
func probe(addr, path string) int {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// checks is how many rounds of checks the preflight logged so far.
func checks(l *logs) int { return len(l.matching(slog.LevelDebug, "permission check done")) }

// waitForMissing waits for the log line of a missing permission and checks
// that it names exactly want, that the component is alive but not ready,
// and that the line is not repeated while the component keeps checking.
func waitForMissing(t *testing.T, l *logs, addr, account, want string, ended func() (bool, error)) {
	t.Helper()
	testpoll.Until(t, 30*time.Second, "the missing permission is logged", func() (bool, string) {
		if ok, err := ended(); ok {
			t.Fatalf("the component ended while a permission is missing: %v", err)
		}
		return len(l.matching(slog.LevelError, "missing permission")) > 0, fmt.Sprintf("%d checks", checks(l))
	})
	lines := l.matching(slog.LevelError, "missing permission")
	if lines[0].Message != want {
		t.Errorf("log line:\n got %q\nwant %q", lines[0].Message, want)
	}
	if user := attr(lines[0], "user"); user != "system:serviceaccount:"+systemNamespace+":"+account {
		t.Errorf("log line names user %q, want the component's ServiceAccount", user)
	}
	// Several more rounds of checks, then the line must still be alone.
	after := checks(l)
	testpoll.Until(t, 30*time.Second, "the preflight checks again", func() (bool, string) {
		return checks(l) >= after+3, fmt.Sprintf("%d checks", checks(l))
	})
	if n := len(l.matching(slog.LevelError, "missing permission")); n != 1 {
		t.Errorf("%d log lines about the missing permission over %d checks, want 1", n, checks(l))
	}
	if code := probe(addr, "/readyz"); code != http.StatusInternalServerError {
		t.Errorf("readyz while a permission is missing: %d, want 500", code)
	}
	if code := probe(addr, "/healthz"); code != http.StatusOK {
		t.Errorf("healthz while a permission is missing: %d, want 200 (a failing liveness probe would restart the pod)", code)
	}
	if ok, err := ended(); ok {
		t.Fatalf("the component ended while a permission is missing: %v", err)
	}
}

// waitForEvent waits for an Event about the pod with the reason and note.
func waitForEvent(t *testing.T, pod, reason, note string) {
	t.Helper()
	testpoll.Until(t, 30*time.Second, "Event "+reason+" about pod "+pod, func() (bool, string) {
		var list eventsv1.EventList
		if err := k8sClient.List(context.Background(), &list, client.InNamespace(systemNamespace)); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range list.Items {
			if e.Regarding.Kind == "Pod" && e.Regarding.Name == pod {
				if e.Reason == reason && e.Note == note {
					return true, ""
				}
				seen = append(seen, e.Reason+": "+e.Note)
			}
		}
		return false, fmt.Sprintf("%q", seen)
	})
}

func TestSpeakerWaitsForAMissingPermissionAndStartsOnceGranted(t *testing.T) {
	ctx := context.Background()
	const account, node, pod = "preflight-speaker", "preflight-node", "bgplb-speaker-preflight"
	must(t, k8sClient.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}))
	missing := access.Permission{Group: "bgplb.io", Resource: "bgppeers", Verb: "list"}
	token, grant := serviceAccount(t, "speaker", account, missing)

	l := &logs{}
	addr := healthAddr(t)
	mgr, err := speaker.NewManager(env.ConfigWithToken(token), bgp.NewFake(), speaker.Options{
		NodeName: node, Namespace: systemNamespace, HealthAddr: addr, Logger: slog.New(l),
		MetricsRegistry: prometheus.NewRegistry(), Controllers: testenv.SeveralInProcess(),
		CheckPermissions: true, PermissionRecheck: 200 * time.Millisecond, PodName: pod, PodUID: "preflight-speaker-uid",
	})
	must(t, err)
	ended, _ := running(t, mgr)

	want := "missing permission: list bgplb.io/bgppeers cluster-wide; grant it through the chart's ClusterRole bgplb-speaker"
	waitForMissing(t, l, addr, account, want, ended)
	waitForEvent(t, pod, access.ReasonMissingPermissions, want)
	condition := func(st *v1alpha1.BGPNodeStatus, typ string) *metav1.Condition {
		return meta.FindStatusCondition(st.Status.Conditions, typ)
	}
	st := waitForNodeStatus(t, node, "PermissionsGranted False", func(st *v1alpha1.BGPNodeStatus) bool {
		c := condition(st, v1alpha1.ConditionPermissionsGranted)
		return c != nil && c.Status == metav1.ConditionFalse
	})
	if c := condition(st, v1alpha1.ConditionPermissionsGranted); c.Reason != v1alpha1.ReasonMissingPermissions || c.Message != want {
		t.Errorf("condition %s/%s %q, want %s and the log line", c.Status, c.Reason, c.Message, v1alpha1.ReasonMissingPermissions)
	}
	if len(st.OwnerReferences) != 1 || st.OwnerReferences[0].Name != node {
		t.Errorf("the status object created to show the condition is not owned by its Node: %+v", st.OwnerReferences)
	}
	if condition(st, v1alpha1.ConditionConfigurationValid) != nil {
		t.Errorf("the speaker wrote its configuration status while a permission is missing")
	}

	grant()
	testpoll.Until(t, 30*time.Second, "the speaker is ready once granted", func() (bool, string) {
		code := probe(addr, "/readyz")
		return code == http.StatusOK, fmt.Sprintf("readyz %d", code)
	})
	// The speaker runs: its status writer, which starts only after the
	// gate, reports the configuration.
	st = waitForNodeStatus(t, node, "PermissionsGranted True and the configuration written", func(st *v1alpha1.BGPNodeStatus) bool {
		c := condition(st, v1alpha1.ConditionPermissionsGranted)
		return c != nil && c.Status == metav1.ConditionTrue && condition(st, v1alpha1.ConditionConfigurationValid) != nil
	})
	if c := condition(st, v1alpha1.ConditionPermissionsGranted); c.Reason != v1alpha1.ReasonAllGranted {
		t.Errorf("condition reason %q after the grant, want %s", c.Reason, v1alpha1.ReasonAllGranted)
	}
	waitForEvent(t, pod, access.ReasonPermissionsGranted, "every permission the speaker needs is granted")
	if n := len(l.matching(slog.LevelError, "missing permission")); n != 1 {
		t.Errorf("%d log lines about missing permissions, want 1", n)
	}
	if ok, err := ended(); ok {
		t.Fatalf("the speaker ended: %v", err)
	}
}

func TestControllerWaitsForAMissingPermissionAndStartsOnceGranted(t *testing.T) {
	ctx := context.Background()
	const account, pod = "preflight-controller", "bgplb-controller-preflight"
	missing := access.Permission{Resource: "namespaces", Verb: "list"}
	token, grant := serviceAccount(t, "controller", account, missing)

	l := &logs{}
	addr := healthAddr(t)
	mgr, err := controller.NewManager(env.ConfigWithToken(token), controller.Options{
		SpeakerNamespace: systemNamespace, LeaderElection: true, LeaderElectionNamespace: systemNamespace,
		LeaderElectionID: account, HealthAddr: addr, Logger: slog.New(l),
		MetricsRegistry: prometheus.NewRegistry(), Controllers: testenv.SeveralInProcess(),
		CheckPermissions: true, PermissionRecheck: 200 * time.Millisecond, PodNamespace: systemNamespace, PodName: pod,
	})
	must(t, err)
	ended, _ := running(t, mgr)

	want := "missing permission: list namespaces cluster-wide; grant it through the chart's ClusterRole bgplb-controller"
	waitForMissing(t, l, addr, account, want, ended)
	waitForEvent(t, pod, access.ReasonMissingPermissions, want)

	// The controller assigns nothing while it waits; once granted it
	// gives the Service an address.
	pool := &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "preflight"},
		Spec: v1alpha1.IPPoolSpec{Addresses: []v1alpha1.AddressRange{"203.0.113.240/30"}}}
	must(t, k8sClient.Create(ctx, pool))
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "preflight"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80)}}}}
	must(t, k8sClient.Create(ctx, svc))
	if ingress := serviceIngress(t, svc); len(ingress) != 0 {
		t.Errorf("the controller assigned %v while a permission is missing", ingress)
	}

	grant()
	testpoll.Until(t, 30*time.Second, "the Service gets an address once granted", func() (bool, string) {
		ingress := serviceIngress(t, svc)
		return len(ingress) == 1, fmt.Sprintf("%v", ingress)
	})
	testpoll.Until(t, 30*time.Second, "the controller is ready", func() (bool, string) {
		code := probe(addr, "/readyz")
		return code == http.StatusOK, fmt.Sprintf("readyz %d", code)
	})
	waitForEvent(t, pod, access.ReasonPermissionsGranted, "every permission the controller needs is granted")
	if n := len(l.matching(slog.LevelError, "missing permission")); n != 1 {
		t.Errorf("%d log lines about missing permissions, want 1", n)
	}
	if ok, err := ended(); ok {
		t.Fatalf("the controller ended: %v", err)
	}
}

// TestStoppingWhileAPermissionIsMissingEndsTheComponent checks that a
// component told to stop while it waits for a permission stops at once,
// without an error: its manager's start-up waits for the gated cache.
func TestStoppingWhileAPermissionIsMissingEndsTheComponent(t *testing.T) {
	ctx := context.Background()
	const account, node = "preflight-stopping-speaker", "preflight-stopping-node"
	must(t, k8sClient.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}))
	token, _ := serviceAccount(t, "speaker", account, access.Permission{Group: "discovery.k8s.io", Resource: "endpointslices", Verb: "watch"})
	l := &logs{}
	addr := healthAddr(t)
	mgr, err := speaker.NewManager(env.ConfigWithToken(token), bgp.NewFake(), speaker.Options{
		NodeName: node, Namespace: systemNamespace, HealthAddr: addr, Logger: slog.New(l),
		MetricsRegistry: prometheus.NewRegistry(), Controllers: testenv.SeveralInProcess(),
		CheckPermissions: true, PermissionRecheck: 200 * time.Millisecond,
	})
	must(t, err)
	ended, stop := running(t, mgr)
	waitForMissing(t, l, addr, account,
		"missing permission: watch discovery.k8s.io/endpointslices cluster-wide; grant it through the chart's ClusterRole bgplb-speaker", ended)
	stop()
	testpoll.Until(t, 10*time.Second, "the speaker stops", func() (bool, string) {
		ok, err := ended()
		return ok, fmt.Sprintf("ended %v, error %v", ok, err)
	})
	if _, err := ended(); err != nil {
		t.Errorf("the speaker stopped with an error: %v", err)
	}
	if n := len(l.matching(slog.LevelInfo, "is granted")); n != 0 {
		t.Errorf("the speaker claims its permissions were granted")
	}
}

func serviceIngress(t *testing.T, svc *corev1.Service) []string {
	t.Helper()
	var cur corev1.Service
	must(t, k8sClient.Get(context.Background(), client.ObjectKeyFromObject(svc), &cur))
	var out []string
	for _, in := range cur.Status.LoadBalancer.Ingress {
		out = append(out, in.IP)
	}
	slices.Sort(out)
	return out
}

func waitForNodeStatus(t *testing.T, node, what string, check func(*v1alpha1.BGPNodeStatus) bool) *v1alpha1.BGPNodeStatus {
	t.Helper()
	var st v1alpha1.BGPNodeStatus
	testpoll.Until(t, 30*time.Second, "BGPNodeStatus "+node+": "+what, func() (bool, string) {
		if err := k8sClient.Get(context.Background(), client.ObjectKey{Name: node}, &st); err != nil {
			return false, err.Error()
		}
		return check(&st), fmt.Sprintf("%+v", st.Status.Conditions)
	})
	return &st
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
