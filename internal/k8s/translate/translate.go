// Package translate turns the Kubernetes objects bgplb reads (its CRDs,
// Services, EndpointSlices, Nodes and password Secrets) into the plain
// values of the core model: the announce rules, the allocator and the BGP
// engine. The speaker, the controller and bgplbctl all translate here, so
// that each object means the same to all of them, each fault has one
// message, and each default one place.
//
// An error names the field and quotes the value it cannot use.
package translate

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ServiceKey is the key the core model (announce.Service.Key,
// ipam.Service.Key) and BGPNodeStatus know a Service by: its namespace
// and name as types.NamespacedName writes them, "namespace/name".
func ServiceKey(svc metav1.Object) string {
	return NamespacedKey(svc.GetNamespace(), svc.GetName())
}

// NamespacedKey is ServiceKey for a Service known by its namespace and
// name only, such as the one an EndpointSlice or an Event refers to.
func NamespacedKey(namespace, name string) string {
	return types.NamespacedName{Namespace: namespace, Name: name}.String()
}

// uint32Ptr converts an API integer that validation keeps in range.
func uint32Ptr(v *int64) *uint32 {
	if v == nil {
		return nil
	}
	u := uint32(*v)
	return &u
}

// boolOr returns *b, or fallback when b is unset.
func boolOr(b *bool, fallback bool) bool {
	if b == nil {
		return fallback
	}
	return *b
}

// durationOr returns d, or fallback when d is unset.
func durationOr(d *metav1.Duration, fallback time.Duration) time.Duration {
	if d == nil {
		return fallback
	}
	return d.Duration
}
