package translate_test

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/ipam"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// annotated is a dual-stack LoadBalancer Service with the given bgplb
// annotations (an empty name leaves the annotation out) and
// spec.loadBalancerIP.
func annotated(annotations map[string]string, loadBalancerIP string) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Annotations: map[string]string{}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerIP: loadBalancerIP,
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}, IPFamilyPolicy: new(corev1.IPFamilyPolicy),
			Ports: []corev1.ServicePort{{Port: 80}}},
	}
	*svc.Spec.IPFamilyPolicy = corev1.IPFamilyPolicyPreferDualStack
	for k, v := range annotations {
		if k != "" {
			svc.Annotations[k] = v
		}
	}
	return svc
}

// The requested addresses are plain addresses, each listed once, and
// written back as a list they read the same; what is refused is quoted.
func FuzzRequestedAddrs(f *testing.F) {
	f.Fuzz(func(t *testing.T, annotation string, hasAnnotation bool, lbIP string) {
		annotations := map[string]string{}
		if hasAnnotation {
			annotations[v1alpha1.AnnotationLoadBalancerIPs] = annotation
		}
		got, err := translate.RequestedAddrs(annotated(annotations, lbIP))
		if err != nil {
			checkRequestFault(t, err, hasAnnotation, annotation, lbIP)
			return
		}
		if !hasAnnotation && strings.TrimSpace(lbIP) == "" {
			if got != nil {
				t.Fatalf("no request, yet addresses %v", got)
			}
			return
		}
		for i, a := range got {
			if !a.IsValid() || a.Zone() != "" || a.Is4In6() || slices.Contains(got[:i], a) {
				t.Fatalf("requested %v: %v is not a plain address listed once", got, a)
			}
		}
		// Round trip: the addresses written as the annotation read the same.
		var written []string
		for _, a := range got {
			written = append(written, a.String())
		}
		again, err := translate.RequestedAddrs(annotated(map[string]string{v1alpha1.AnnotationLoadBalancerIPs: strings.Join(written, ",")}, ""))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("requested %v, written %q, read back as %v, %v", got, strings.Join(written, ","), again, err)
		}
	})
}

// checkRequestFault fails the test unless a refused request names the
// field it came from and quotes an entry of it.
func checkRequestFault(t *testing.T, err error, hasAnnotation bool, annotation, lbIP string) {
	t.Helper()
	field, entries := "spec.loadBalancerIP: ", []string{strings.TrimSpace(lbIP)}
	if hasAnnotation {
		field, entries = "annotation "+v1alpha1.AnnotationLoadBalancerIPs+": ", strings.Split(annotation, ",")
	}
	if !strings.HasPrefix(err.Error(), field) {
		t.Fatalf("error %q does not name %q", err, field)
	}
	for _, e := range entries {
		if strings.Contains(err.Error(), strconv.Quote(strings.TrimSpace(e))) {
			return
		}
	}
	t.Fatalf("error %q quotes none of %q", err, entries)
}

// Whatever a Service's annotations say, its request is made, the pool
// and sharing key trimmed, and the allocator honours the requested
// addresses and pool or refuses them.
func FuzzAllocationRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, pool, sharingKey, ips, lbIP string) {
		annotations := map[string]string{v1alpha1.AnnotationIPPool: pool, v1alpha1.AnnotationAllowSharedIP: sharingKey}
		if ips != "" {
			annotations[v1alpha1.AnnotationLoadBalancerIPs] = ips
		}
		svc := annotated(annotations, lbIP)
		req, err := translate.AllocationRequest(svc, nil)
		if req.Key != "shop/web" || req.Namespace != "shop" {
			t.Fatalf("request of shop/web has key %q, namespace %q", req.Key, req.Namespace)
		}
		if req.RequestedPool != strings.TrimSpace(pool) || req.SharingKey != strings.TrimSpace(sharingKey) {
			t.Fatalf("pool %q, sharing key %q read as %q, %q", pool, sharingKey, req.RequestedPool, req.SharingKey)
		}
		if _, addrErr := translate.RequestedAddrs(svc); (err == nil) != (addrErr == nil) {
			t.Fatalf("AllocationRequest error %v, RequestedAddrs error %v", err, addrErr)
		}
		if err != nil {
			return
		}
		checkAssignment(t, req)
	})
}

// checkAssignment assigns req from the pools "lab" (203.0.113.0/24 and
// 2001:db8:100::/120) and "other" (198.51.100.0/24), and checks that an
// assignment honours the requested addresses and pool.
func checkAssignment(t *testing.T, req ipam.Service) {
	t.Helper()
	parse := func(s string) ipam.Range {
		r, err := ipam.ParseRange(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	alloc := ipam.NewAllocator()
	alloc.SetPools([]ipam.Pool{
		{Name: "lab", AutoAssign: true, Ranges: []ipam.Range{parse("203.0.113.0/24"), parse("2001:db8:100::/120")}},
		{Name: "other", AutoAssign: true, Ranges: []ipam.Range{parse("198.51.100.0/24")}},
	})
	got, err := alloc.Assign(req)
	if err != nil {
		return
	}
	if req.RequestedPool != "" && got.Pool != req.RequestedPool {
		t.Fatalf("asked for pool %q, assigned from %q", req.RequestedPool, got.Pool)
	}
	if len(req.RequestedAddrs) > 0 {
		want := slices.SortedFunc(slices.Values(req.RequestedAddrs), netip.Addr.Compare)
		if have := slices.SortedFunc(slices.Values(got.Addrs), netip.Addr.Compare); !slices.Equal(have, want) {
			t.Fatalf("asked for %v, assigned %v", want, have)
		}
	}
}
