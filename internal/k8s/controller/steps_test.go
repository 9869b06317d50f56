package controller

// Tests of the steps of an allocation pass that carry a rule, on plain
// values and a real allocator, without an API server.

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/ipam"
)

func testPool(name string, addresses ...v1alpha1.AddressRange) *v1alpha1.IPPool {
	return &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.IPPoolSpec{Addresses: addresses}}
}

// testService is a LoadBalancer Service of no class, with the given
// addresses in its status and annotations.
func testService(name string, annotations map[string]string, ingress ...string) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Annotations: annotations},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}}}
	for _, ip := range ingress {
		svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return svc
}

// testReconciler is an allocation reconciler with an allocator holding
// the pool 203.0.113.0/29, whose events go to the returned recorder.
func testReconciler(t *testing.T) (*allocationReconciler, *events.FakeRecorder) {
	t.Helper()
	recorder := events.NewFakeRecorder(16)
	metrics, err := newControllerMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r := newAllocationReconciler(nil, recorder, slog.New(slog.DiscardHandler), metrics, "")
	r.alloc = ipam.NewAllocator()
	if rejected, _ := r.alloc.SetPools([]ipam.Pool{{Name: "lab", AutoAssign: true, Ranges: []ipam.Range{mustRange(t, "203.0.113.0/29")}}}); len(rejected) > 0 {
		t.Fatalf("pool rejected: %v", rejected)
	}
	return r, recorder
}

func mustRange(t *testing.T, s string) ipam.Range {
	t.Helper()
	r, err := ipam.ParseRange(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sentEvents flushes the reconciler's queued events and returns them.
func sentEvents(r *allocationReconciler, recorder *events.FakeRecorder) []string {
	r.flushEvents()
	var out []string
	for len(recorder.Events) > 0 {
		out = append(out, <-recorder.Events)
	}
	return out
}

// A pool that an edit broke keeps its last good version, and says so; a
// broken pool never seen good is not used; pools that are gone are
// forgotten.
func TestAPoolAnEditBrokeKeepsItsLastGoodVersion(t *testing.T) {
	good, bad := v1alpha1.AddressRange("203.0.113.0/29"), v1alpha1.AddressRange("203.0.113.7/29")
	candidates, last, errs := usablePools([]*v1alpha1.IPPool{testPool("a", good), testPool("b", bad)}, nil)
	if len(candidates) != 1 || candidates[0].Name != "a" || errs["b"] == nil || errs["a"] != nil {
		t.Fatalf("first pass: candidates %v, errors %v; want a used and b refused", candidates, errs)
	}
	candidates, last, errs = usablePools([]*v1alpha1.IPPool{testPool("a", bad)}, last)
	if len(candidates) != 1 || candidates[0].Ranges[0].String() != string(good) ||
		errs["a"] == nil || !strings.HasSuffix(errs["a"].Error(), "; the pool keeps its previous version") {
		t.Fatalf("broken edit: candidates %v, errors %v; want a's previous version, said so", candidates, errs)
	}
	if _, ok := last["b"]; ok || len(last) != 1 {
		t.Errorf("good versions %v; want a's only", last)
	}
}

// Only Services of this controller's class are requested; one that asks
// for addresses in a malformed way has an error and a request all the
// same.
func TestRequestsAreMadeForServedServicesEvenMalformedOnes(t *testing.T) {
	r, _ := testReconciler(t)
	other := testService("other", nil)
	other.Spec.LoadBalancerClass = new(string)
	*other.Spec.LoadBalancerClass = "someone-else"
	malformed := testService("malformed", map[string]string{v1alpha1.AnnotationLoadBalancerIPs: "nonsense"})
	requests, errs := r.requests(allocationInputs{services: []*corev1.Service{testService("web", nil), other, malformed}})
	if len(requests) != 2 || requests["default/web"].Key != "default/web" || requests["default/malformed"].Key != "default/malformed" {
		t.Errorf("requests %v; want web and malformed", requests)
	}
	if len(errs) != 1 || !strings.Contains(errs["default/malformed"].Error(), `"nonsense"`) {
		t.Errorf("errors %v; want malformed's, quoting the value", errs)
	}
}

// At the first pass the addresses in status are adopted in the order
// given (oldest first), so the first of two claims to an address wins;
// a Service whose request is malformed keeps its address from others.
func TestAdoptionGivesAClaimedAddressToTheFirstClaimant(t *testing.T) {
	r, _ := testReconciler(t)
	older := testService("older", nil, "203.0.113.3")
	younger := testService("younger", nil, "203.0.113.3")
	malformed := testService("malformed", map[string]string{v1alpha1.AnnotationLoadBalancerIPs: "nonsense"}, "203.0.113.4")
	services := []*corev1.Service{older, younger, malformed}
	requests, _ := r.requests(allocationInputs{services: services})
	r.adopt(context.Background(), services, requests)
	for key, want := range map[string]bool{"default/older": true, "default/younger": false, "default/malformed": true} {
		if _, ok := r.alloc.Assignment(key); ok != want || r.held[key] != want {
			t.Errorf("%s holds an assignment: %v (held %v), want %v", key, ok, r.held[key], want)
		}
	}
	if got, _ := r.alloc.Assignment("default/older"); !slices.Equal(got.Addrs, []netip.Addr{netip.MustParseAddr("203.0.113.3")}) {
		t.Errorf("older holds %v, want 203.0.113.3", got.Addrs)
	}
}

// A Service that is gone gives its addresses back, and what the
// reconciler remembered about it is forgotten.
func TestAServiceThatIsGoneIsReleasedAndForgotten(t *testing.T) {
	r, _ := testReconciler(t)
	gone := testService("gone", nil)
	requests, _ := r.requests(allocationInputs{services: []*corev1.Service{gone}})
	r.assign(gone, "default/gone", requests["default/gone"], false)
	r.pending["default/gone"] = []string{"1"}
	r.failures["default/gone"] = "earlier failure"
	if _, ok := r.alloc.Assignment("default/gone"); !ok {
		t.Fatal("no assignment to release")
	}
	if writes := r.releaseAll(nil); len(writes) != 0 {
		t.Errorf("writes %v for a Service that is gone", writes)
	}
	if _, ok := r.alloc.Assignment("default/gone"); ok || r.held["default/gone"] || r.pending["default/gone"] != nil || r.failures["default/gone"] != "" {
		t.Errorf("the Service that is gone is still remembered: held %v, pending %v, failures %v", r.held, r.pending, r.failures)
	}
}

// An assignment is reported: a new one as IPAllocated, unless the status
// shows it already; one that a pool change forced as a warning.
func TestAssignmentsAreReportedAndAForcedMoveIsAWarning(t *testing.T) {
	// The Service asks for 203.0.113.5, so that the assignment is known.
	asks := map[string]string{v1alpha1.AnnotationLoadBalancerIPs: "203.0.113.5"}
	tests := []struct {
		name    string
		ingress []string
		moved   bool
		want    string // prefix of the one event, or "" for none
	}{
		{"a new assignment", nil, false, `Normal IPAllocated assigned 203.0.113.5 from pool "lab"`},
		{"an assignment the status shows already", []string{"203.0.113.5"}, false, ""},
		{"a move a pool change forced", []string{"203.0.113.1"}, true, `Warning IPChanged pool "lab" no longer holds the previous address; assigned 203.0.113.5`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, recorder := testReconciler(t)
			svc := testService("web", asks, tt.ingress...)
			requests, _ := r.requests(allocationInputs{services: []*corev1.Service{svc}})
			r.assign(svc, "default/web", requests["default/web"], tt.moved)
			got := sentEvents(r, recorder)
			if tt.want == "" && len(got) != 0 || tt.want != "" && (len(got) != 1 || !strings.HasPrefix(got[0], tt.want)) {
				t.Errorf("events %q, want one starting with %q", got, tt.want)
			}
		})
	}
}
