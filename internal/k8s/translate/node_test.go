package translate_test

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// The drain annotation and the exclude label drain a node, the annotation
// named first; a cordon is only reported, since it drains together with an
// advertisement only.
func TestWhatOnANodeDrainsIt(t *testing.T) {
	tests := []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		cordoned    bool
		wantDrain   bool
		wantReason  string
	}{
		{"nothing", nil, nil, false, false, ""},
		{"the annotation, whatever its value", nil, map[string]string{v1alpha1.AnnotationDrain: ""}, false, true, v1alpha1.DrainReasonAnnotation},
		{"the exclude label", map[string]string{announce.ExcludeLabel: "true"}, nil, false, true, v1alpha1.DrainReasonExcludeLabel},
		{"both: the annotation is named", map[string]string{announce.ExcludeLabel: ""}, map[string]string{v1alpha1.AnnotationDrain: "x"}, false, true, v1alpha1.DrainReasonAnnotation},
		{"a cordon alone", nil, nil, true, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: tt.labels, Annotations: tt.annotations},
				Spec: corev1.NodeSpec{Unschedulable: tt.cordoned}}
			got, drain := translate.Node(n)
			if got.Name != "n1" || got.Drain != tt.wantDrain || got.Cordoned != tt.cordoned || drain.Reason() != tt.wantReason {
				t.Errorf("node %+v, drain reason %q; want drain %v, cordoned %v, reason %q", got, drain.Reason(), tt.wantDrain, tt.cordoned, tt.wantReason)
			}
			_, excluded := tt.labels[announce.ExcludeLabel]
			_, annotated := tt.annotations[v1alpha1.AnnotationDrain]
			if drain.Excluded != excluded || drain.Annotated != annotated {
				t.Errorf("drain %+v, want excluded %v, annotated %v", drain, excluded, annotated)
			}
		})
	}
}

// Only the condition NetworkUnavailable=True takes a node's network away.
func TestANodeWithoutNetworkIsToldByItsCondition(t *testing.T) {
	for _, tt := range []struct {
		conditions []corev1.NodeCondition
		want       bool
	}{
		{nil, false},
		{[]corev1.NodeCondition{{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse}}, false},
		{[]corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}, {Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue}}, true},
	} {
		got, _ := translate.Node(&corev1.Node{Status: corev1.NodeStatus{Conditions: tt.conditions}})
		if got.NetworkUnavailable != tt.want {
			t.Errorf("conditions %v: network unavailable %v, want %v", tt.conditions, got.NetworkUnavailable, tt.want)
		}
	}
}

// A node's addresses are its first internal address of each family;
// others, and what is not an address, are passed over.
func TestANodesAddressesAreItsFirstInternalOnesOfEachFamily(t *testing.T) {
	tests := []struct {
		name      string
		addresses []corev1.NodeAddress
		want      translate.NodeAddresses
	}{
		{"none", nil, translate.NodeAddresses{}},
		{"external and host names are passed over", []corev1.NodeAddress{
			{Type: corev1.NodeExternalIP, Address: "203.0.113.9"}, {Type: corev1.NodeHostName, Address: "n1"},
			{Type: corev1.NodeInternalIP, Address: "198.18.0.10"}}, translate.NodeAddresses{IPv4: netip.MustParseAddr("198.18.0.10")}},
		{"the first of each family", []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "2001:db8:1::10"}, {Type: corev1.NodeInternalIP, Address: "198.18.0.10"},
			{Type: corev1.NodeInternalIP, Address: "198.18.0.11"}, {Type: corev1.NodeInternalIP, Address: "2001:db8:1::11"}},
			translate.NodeAddresses{IPv4: netip.MustParseAddr("198.18.0.10"), IPv6: netip.MustParseAddr("2001:db8:1::10")}},
		{"a mapped IPv4 address is no IPv6 address, and junk is passed over", []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "::ffff:198.18.0.10"}, {Type: corev1.NodeInternalIP, Address: "n1.example"}},
			translate.NodeAddresses{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := translate.Addresses(&corev1.Node{Status: corev1.NodeStatus{Addresses: tt.addresses}}); got != tt.want {
				t.Errorf("addresses %+v, want %+v", got, tt.want)
			}
		})
	}
}
