package speaker

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/bgplb/bgplb/api/v1alpha1"
)

// A dual-stack Service has one EndpointSlice per family listing the same
// Pods; each Pod must count once, or weights would double.
func TestAPodInTwoSlicesIsOneEndpoint(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", Annotations: map[string]string{v1alpha1.AnnotationAssignedPool: "lab"}},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
		Status:     corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.1"}, {IP: "2001:db8:100::1"}}}},
	}
	endpoint := func(addr, pod string) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{addr}, NodeName: ptr.To("n1"),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: pod, UID: types.UID("uid-" + pod)}}
	}
	v4 := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{endpoint("10.244.0.1", "a"), endpoint("10.244.0.2", "b")}}
	v6 := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv6,
		Endpoints: []discoveryv1.Endpoint{endpoint("fd10::1", "a"), endpoint("fd10::2", "b")}}
	// No target: endpoints cannot be matched up and all count.
	bare := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.3"}, NodeName: ptr.To("n1")}}}

	got, ok := serviceFromAPI(svc, []*discoveryv1.EndpointSlice{v4, v6, bare})
	if !ok {
		t.Fatal("the Service is not announceable")
	}
	if len(got.Endpoints) != 3 {
		t.Errorf("%d endpoints, want 3 (pods a and b once each, and the one without a target)", len(got.Endpoints))
	}
}
