package controller_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/controller"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
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
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if scheme, err := kubeutil.Scheme(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else if k8sClient, err = client.New(env.Config, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else if err = k8sClient.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bgplb-system"}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop API server:", err)
	}
	os.Exit(code)
}

// runningController is one controller replica started by a test.
type runningController struct {
	mgr     manager.Manager
	metrics prometheus.Gatherer // the replica's own metrics
	cancel  context.CancelFunc
	done    chan struct{} // closed when the manager has returned
	err     error         // what the manager returned, once done is closed
}

// stop ends the replica and waits until it has let go of everything.
func (c *runningController) stop(t *testing.T) {
	t.Helper()
	c.cancel()
	select {
	case <-c.done:
		if c.err != nil {
			t.Errorf("controller exited with %v", c.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("controller did not stop within 30s")
	}
}

// oneOfMany returns opts for one of the many controllers the tests run in
// this process: with a metrics registry of its own, which it also returns
// for the test to read, and with testenv.SeveralInProcess. Production runs
// one controller per process and needs neither.
func oneOfMany(opts controller.Options) (controller.Options, *prometheus.Registry) {
	registry := prometheus.NewRegistry()
	opts.MetricsRegistry = registry
	opts.Controllers = testenv.SeveralInProcess()
	return opts, registry
}

// startController runs a controller replica with opts, as one of many
// (see oneOfMany), until the test ends.
func startController(t *testing.T, opts controller.Options) *runningController {
	t.Helper()
	opts, registry := oneOfMany(opts)
	mgr, err := controller.NewManager(env.Config, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &runningController{mgr: mgr, metrics: registry, cancel: cancel, done: make(chan struct{})}
	go func() {
		c.err = mgr.Start(ctx)
		close(c.done)
	}()
	t.Cleanup(func() {
		c.cancel()
		<-c.done
	})
	return c
}

// namespace creates a namespace for one test, so its Services and events
// never mix with another test's.
func namespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-") + fmt.Sprintf("-%d", time.Now().UnixNano()%100000)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return name
}

type poolOption func(*v1alpha1.IPPool)

func autoAssign(on bool) poolOption {
	return func(p *v1alpha1.IPPool) { p.Spec.AutoAssign = ptr.To(on) }
}

func onlyNamespaces(ns ...string) poolOption {
	return func(p *v1alpha1.IPPool) {
		if p.Spec.ServiceAllocation == nil {
			p.Spec.ServiceAllocation = &v1alpha1.ServiceAllocation{}
		}
		p.Spec.ServiceAllocation.Namespaces = ns
	}
}

func priority(n int32) poolOption {
	return func(p *v1alpha1.IPPool) {
		if p.Spec.ServiceAllocation == nil {
			p.Spec.ServiceAllocation = &v1alpha1.ServiceAllocation{}
		}
		p.Spec.ServiceAllocation.Priority = n
	}
}

func createPool(t *testing.T, name string, addrs []string, opts ...poolOption) *v1alpha1.IPPool {
	t.Helper()
	p := &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, a := range addrs {
		p.Spec.Addresses = append(p.Spec.Addresses, v1alpha1.AddressRange(a))
	}
	for _, o := range opts {
		o(p)
	}
	if err := k8sClient.Create(context.Background(), p); err != nil {
		t.Fatalf("create pool %s: %v", name, err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), p) })
	return p
}

type serviceOption func(*corev1.Service)

func families(policy corev1.IPFamilyPolicy, fams ...corev1.IPFamily) serviceOption {
	return func(s *corev1.Service) {
		s.Spec.IPFamilyPolicy = &policy
		s.Spec.IPFamilies = fams
	}
}

func annotate(key, value string) serviceOption {
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[key] = value
	}
}

func ports(ps ...int32) serviceOption {
	return func(s *corev1.Service) {
		s.Spec.Ports = nil
		for _, p := range ps {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: fmt.Sprintf("p%d", p), Port: p, Protocol: corev1.ProtocolTCP})
		}
	}
}

func local(selector string) serviceOption {
	return func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.Selector = map[string]string{"app": selector}
	}
}

func serviceObject(ns, name string, opts ...serviceOption) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
			Selector: map[string]string{"app": name},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func createService(t *testing.T, ns, name string, opts ...serviceOption) *corev1.Service {
	t.Helper()
	s := serviceObject(ns, name, opts...)
	if err := k8sClient.Create(context.Background(), s); err != nil {
		t.Fatalf("create service %s/%s: %v", ns, name, err)
	}
	return s
}

func getService(t *testing.T, ns, name string) *corev1.Service {
	t.Helper()
	var s corev1.Service
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		t.Fatalf("get service %s/%s: %v", ns, name, err)
	}
	return &s
}

func ingressIPs(s *corev1.Service) []string {
	var out []string
	for _, in := range s.Status.LoadBalancer.Ingress {
		out = append(out, in.IP)
	}
	return out
}

// waitForIPs waits until the Service's status shows exactly want.
func waitForIPs(t *testing.T, ns, name string, want ...string) {
	t.Helper()
	testpoll.Until(t, 20*time.Second, fmt.Sprintf("service %s/%s gets %v", ns, name, want), func() (bool, string) {
		got := ingressIPs(getService(t, ns, name))
		return slices.Equal(got, want), fmt.Sprint(got)
	})
}

// waitForAnyIPs waits until the Service's status shows n addresses and
// returns them.
func waitForAnyIPs(t *testing.T, ns, name string, n int) []string {
	t.Helper()
	var got []string
	testpoll.Until(t, 20*time.Second, fmt.Sprintf("service %s/%s gets %d addresses", ns, name, n), func() (bool, string) {
		got = ingressIPs(getService(t, ns, name))
		return len(got) == n, fmt.Sprint(got)
	})
	return got
}

// waitForEvent waits for an event on the Service with the reason and a
// note containing every fragment.
func waitForEvent(t *testing.T, ns, name, reason string, fragments ...string) {
	t.Helper()
	testpoll.Until(t, 20*time.Second, fmt.Sprintf("event %s on %s/%s mentioning %q", reason, ns, name, fragments), func() (bool, string) {
		var list eventsv1.EventList
		if err := k8sClient.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range list.Items {
			if e.Regarding.Name != name {
				continue
			}
			seen = append(seen, e.Reason+": "+e.Note)
			if e.Reason != reason {
				continue
			}
			all := true
			for _, f := range fragments {
				all = all && strings.Contains(e.Note, f)
			}
			if all {
				return true, ""
			}
		}
		return false, strings.Join(seen, " | ")
	})
}

// updatePool applies change to the newest version of a pool, retrying when
// the controller's status writes race with the update.
func updatePool(t *testing.T, name string, change func(*v1alpha1.IPPool)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var p v1alpha1.IPPool
		if err := k8sClient.Get(context.Background(), client.ObjectKey{Name: name}, &p); err != nil {
			return err
		}
		change(&p)
		return k8sClient.Update(context.Background(), &p)
	})
	if err != nil {
		t.Fatalf("update pool %s: %v", name, err)
	}
}
