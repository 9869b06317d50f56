package translate_test

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/ipam"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func ingress(ips ...string) corev1.ServiceStatus {
	var st corev1.ServiceStatus
	for _, ip := range ips {
		st.LoadBalancer.Ingress = append(st.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return st
}

func TestAServiceKeyIsItsNamespaceAndName(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}}
	if got := translate.ServiceKey(svc); got != "shop/web" {
		t.Errorf("ServiceKey = %q, want shop/web", got)
	}
	if got := translate.NamespacedKey("shop", "web"); got != translate.ServiceKey(svc) {
		t.Errorf("NamespacedKey = %q, want the ServiceKey %q", got, translate.ServiceKey(svc))
	}
}

// Only a LoadBalancer with addresses that the bgplb controller assigned
// (it sets the pool annotation) has anything to announce.
func TestAServiceIsAnnounceableWithAddressesBGPLBAssigned(t *testing.T) {
	ours := map[string]string{v1alpha1.AnnotationAssignedPool: "lab"}
	tests := []struct {
		name        string
		typ         corev1.ServiceType
		annotations map[string]string
		status      corev1.ServiceStatus
		want        bool
	}{
		{"ours with an address", corev1.ServiceTypeLoadBalancer, ours, ingress("203.0.113.1"), true},
		{"ours, no address yet", corev1.ServiceTypeLoadBalancer, ours, ingress(), false},
		{"another load balancer's address", corev1.ServiceTypeLoadBalancer, nil, ingress("203.0.113.1"), false},
		{"not a LoadBalancer any more", corev1.ServiceTypeClusterIP, ours, ingress("203.0.113.1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Annotations: tt.annotations},
				Spec: corev1.ServiceSpec{Type: tt.typ}, Status: tt.status}
			if got := translate.Announceable(svc); got != tt.want {
				t.Errorf("Announceable = %v, want %v", got, tt.want)
			}
			if _, got := translate.AnnouncedService(svc, nil); got != tt.want {
				t.Errorf("AnnouncedService says %v, want %v", got, tt.want)
			}
		})
	}
}

// An announced Service carries its key, labels, pool, traffic policy, the
// addresses of its status that are addresses, and its endpoints.
func TestAnAnnouncedServiceCarriesWhatTheRulesLookAt(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Labels: map[string]string{"tier": "front"},
			Annotations: map[string]string{v1alpha1.AnnotationAssignedPool: "lab"}},
		Spec:   corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal},
		Status: ingress("203.0.113.1", "not-an-address", "2001:db8:100::1"),
	}
	got, ok := translate.AnnouncedService(svc, slicesOf(endpoint("n1", "a", nil)))
	if !ok || got.Key != "shop/web" || got.Pool != "lab" || !got.Local || got.Labels["tier"] != "front" ||
		!slices.Equal(got.Addrs, addrs("203.0.113.1", "2001:db8:100::1")) || len(got.Endpoints) != 1 || got.Endpoints[0].Node != "n1" {
		t.Errorf("AnnouncedService = %+v, %v", got, ok)
	}
	// A status with nothing but junk has no address to announce.
	svc.Status = ingress("not-an-address")
	if _, ok := translate.AnnouncedService(svc, nil); ok {
		t.Error("a Service without a valid address is announceable")
	}
}

func TestAnAllocationRequestCarriesWhatTheAllocatorLooksAt(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Labels: map[string]string{"tier": "front"},
			Annotations: map[string]string{v1alpha1.AnnotationIPPool: " public ", v1alpha1.AnnotationAllowSharedIP: " web-key "}},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeLoadBalancer,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			IPFamilies:            []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol},
			IPFamilyPolicy:        ptr.To(corev1.IPFamilyPolicyPreferDualStack),
			Selector:              map[string]string{"app": "web"},
			Ports:                 []corev1.ServicePort{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP}},
		},
	}
	got, err := translate.AllocationRequest(svc, map[string]string{"team": "a"})
	want := ipam.Service{
		Key: "shop/web", Namespace: "shop", Labels: map[string]string{"tier": "front"}, NamespaceLabels: map[string]string{"team": "a"},
		Families: []ipam.Family{ipam.IPv6, ipam.IPv4}, Policy: ipam.PreferDualStack,
		RequestedPool: "public", SharingKey: "web-key", Local: true, PodSelector: "app=web",
		Ports: []ipam.Port{{Protocol: "TCP", Port: 80}, {Protocol: "UDP", Port: 53}},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("AllocationRequest =\n%+v, %v\nwant\n%+v", got, err, want)
	}
}

// A malformed request is an error quoting the value, and the rest of the
// request is still returned, so that the Service's addresses can be
// adopted.
func TestAMalformedRequestStillDescribesTheService(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web",
		Annotations: map[string]string{v1alpha1.AnnotationLoadBalancerIPs: "bad"}}}
	got, err := translate.AllocationRequest(svc, nil)
	if err == nil || got.Key != "shop/web" || got.RequestedAddrs != nil {
		t.Errorf("AllocationRequest = %+v, %v; want the key, no addresses and an error", got, err)
	}
}

func TestRequestedAddresses(t *testing.T) {
	const annotation = v1alpha1.AnnotationLoadBalancerIPs
	tests := []struct {
		name           string
		annotations    map[string]string
		loadBalancerIP string
		want           []netip.Addr
		wantErr        string
	}{
		{"none", nil, "", nil, ""},
		{"one of each family, spaces ignored", map[string]string{annotation: " 203.0.113.5 , 2001:db8:100::5"}, "", addrs("203.0.113.5", "2001:db8:100::5"), ""},
		{"the deprecated field", nil, " 203.0.113.6 ", addrs("203.0.113.6"), ""},
		{"the annotation wins over the deprecated field", map[string]string{annotation: "203.0.113.5"}, "203.0.113.6", addrs("203.0.113.5"), ""},
		{"not an address", map[string]string{annotation: "203.0.113.5,web"}, "", nil, `annotation bgplb.io/load-balancer-ips: invalid address "web"`},
		{"an empty annotation", map[string]string{annotation: ""}, "", nil, `annotation bgplb.io/load-balancer-ips: invalid address ""`},
		{"a zone", map[string]string{annotation: "fe80::1%eth0"}, "", nil, `annotation bgplb.io/load-balancer-ips: invalid address "fe80::1%eth0"`},
		{"a mapped IPv4 address", map[string]string{annotation: "::ffff:203.0.113.5"}, "", nil, `annotation bgplb.io/load-balancer-ips: invalid address "::ffff:203.0.113.5"`},
		{"an address listed twice", map[string]string{annotation: "203.0.113.5, 203.0.113.5"}, "", nil, `annotation bgplb.io/load-balancer-ips: address "203.0.113.5" listed twice`},
		{"a bad deprecated field", nil, "203.0.113", nil, `spec.loadBalancerIP: invalid address "203.0.113"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Annotations: tt.annotations}, Spec: corev1.ServiceSpec{LoadBalancerIP: tt.loadBalancerIP}}
			got, err := translate.RequestedAddrs(svc)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr || !slices.Equal(got, tt.want) {
				t.Errorf("RequestedAddrs = %v, %q; want %v, %q", got, gotErr, tt.want, tt.wantErr)
			}
		})
	}
}
