package translate_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// endpoint is an endpoint of pod on node with the given conditions.
func endpoint(node, pod string, conditions *discoveryv1.EndpointConditions) discoveryv1.Endpoint {
	ep := discoveryv1.Endpoint{Addresses: []string{"10.244.0.1"}, NodeName: ptr.To(node),
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: pod, UID: types.UID("uid-" + pod)}}
	if conditions != nil {
		ep.Conditions = *conditions
	}
	return ep
}

func slicesOf(endpoints ...discoveryv1.Endpoint) []*discoveryv1.EndpointSlice {
	return []*discoveryv1.EndpointSlice{{Endpoints: endpoints}}
}

// The API defines unset conditions: Ready as true, Serving as Ready,
// Terminating as false.
func TestEndpointConditionsAndTheirDefaults(t *testing.T) {
	tests := []struct {
		name       string
		conditions discoveryv1.EndpointConditions
		want       announce.Endpoint
	}{
		{"none set", discoveryv1.EndpointConditions{}, announce.Endpoint{Node: "n1", Ready: true, Serving: true}},
		{"not ready: not serving either", discoveryv1.EndpointConditions{Ready: ptr.To(false)}, announce.Endpoint{Node: "n1"}},
		{"terminating and still serving", discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)},
			announce.Endpoint{Node: "n1", Serving: true, Terminating: true}},
		{"ready but not serving", discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(false)}, announce.Endpoint{Node: "n1", Ready: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := endpoint("n1", "a", &tt.conditions)
			if got := translate.Endpoint(&ep); got != tt.want {
				t.Errorf("Endpoint = %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := translate.Endpoint(&discoveryv1.Endpoint{}); got.Node != "" {
		t.Errorf("an endpoint without a node is on node %q", got.Node)
	}
}

// A dual-stack Service has one EndpointSlice per family listing the same
// Pods; each Pod must count once, or weights would double. Endpoints
// without a target cannot be matched up and all count; endpoints on no
// node count for none.
func TestAPodInTwoSlicesIsOneEndpoint(t *testing.T) {
	v4 := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{endpoint("n1", "a", nil), endpoint("n1", "b", nil)}}
	v6 := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv6,
		Endpoints: []discoveryv1.Endpoint{endpoint("n1", "a", nil), endpoint("n1", "b", nil)}}
	bare := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.3"}, NodeName: ptr.To("n1")}, {Addresses: []string{"10.244.0.4"}, NodeName: ptr.To("n1")},
			{Addresses: []string{"10.244.0.5"}}}}
	if got := translate.Endpoints([]*discoveryv1.EndpointSlice{v4, v6, bare}); len(got) != 4 {
		t.Errorf("%d endpoints, want 4 (pods a and b once each, and the two without a target): %+v", len(got), got)
	}
}

func TestEndpointSlicesAreIndexedByTheirServicesKey(t *testing.T) {
	slice := func(ns, service string) discoveryv1.EndpointSlice {
		es := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: service + "-x"}}
		if service != "" {
			es.Labels = map[string]string{discoveryv1.LabelServiceName: service}
		}
		return es
	}
	got := translate.SlicesByService([]discoveryv1.EndpointSlice{slice("shop", "web"), slice("shop", "web"), slice("lab", "web"), slice("shop", "")})
	if len(got) != 2 || len(got["shop/web"]) != 2 || len(got["lab/web"]) != 1 {
		t.Errorf("SlicesByService = %v; want two slices of shop/web and one of lab/web, and none of a slice without a Service", got)
	}
}
