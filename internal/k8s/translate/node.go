package translate

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
)

// NodeDrain says what on a Node asks it to drain, apart from a cordon:
// the drain annotation, the exclude label, or both.
type NodeDrain struct {
	Annotated bool
	Excluded  bool
}

// Reason names what drains the node, the annotation first:
// v1alpha1.DrainReasonAnnotation, DrainReasonExcludeLabel, or "" when
// nothing does.
func (d NodeDrain) Reason() string {
	switch {
	case d.Annotated:
		return v1alpha1.DrainReasonAnnotation
	case d.Excluded:
		return v1alpha1.DrainReasonExcludeLabel
	}
	return ""
}

// Node returns the node as the announce rules see it, and what on it asks
// it to drain. A cordon drains only together with an advertisement that
// drains on cordon, so the caller decides about it.
func Node(n *corev1.Node) (announce.Node, NodeDrain) {
	_, annotated := n.Annotations[v1alpha1.AnnotationDrain]
	_, excluded := n.Labels[announce.ExcludeLabel]
	drain := NodeDrain{Annotated: annotated, Excluded: excluded}
	node := announce.Node{Name: n.Name, Labels: n.Labels, Cordoned: n.Spec.Unschedulable, Drain: annotated || excluded}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeNetworkUnavailable && c.Status == corev1.ConditionTrue {
			node.NetworkUnavailable = true
		}
	}
	return node, drain
}

// Addresses returns the node's first internal address of each family,
// which its speaker uses as next hop and as default router ID.
func Addresses(n *corev1.Node) NodeAddresses {
	var out NodeAddresses
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		addr, err := netip.ParseAddr(a.Address)
		if err != nil {
			continue
		}
		switch {
		case addr.Is4() && !out.IPv4.IsValid():
			out.IPv4 = addr
		case addr.Is6() && !addr.Is4In6() && !out.IPv6.IsValid():
			out.IPv6 = addr
		}
	}
	return out
}
