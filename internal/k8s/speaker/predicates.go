package speaker

import (
	"context"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// serviceChanged passes events of Services that have, or had, addresses
// to announce. A Service still waiting for its address cannot change what
// this node announces.
func serviceChanged() predicate.Funcs {
	isAnnounceable := func(o client.Object) bool {
		s, ok := o.(*corev1.Service)
		return !ok || translate.Announceable(s)
	}
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return isAnnounceable(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool { return isAnnounceable(e.ObjectOld) || isAnnounceable(e.ObjectNew) },
		DeleteFunc: func(e event.DeleteEvent) bool { return isAnnounceable(e.Object) },
	}
}

// endpointsChanged passes events of EndpointSlices whose Service has
// addresses to announce. When a Service gets its addresses later, its own
// event starts the recompute that reads its slices.
func endpointsChanged(services client.Reader) predicate.Funcs {
	return predicate.NewPredicateFuncs(func(o client.Object) bool {
		name := o.GetLabels()[discoveryv1.LabelServiceName]
		if name == "" {
			return false
		}
		var s corev1.Service
		err := services.Get(context.Background(), client.ObjectKey{Namespace: o.GetNamespace(), Name: name}, &s)
		if apierrors.IsNotFound(err) {
			return false
		}
		// On any other error the recompute finds out what is true.
		return err != nil || translate.Announceable(&s)
	})
}

// nodeChanged drops updates of the node that change nothing the speaker
// reads, such as the kubelet's periodic status refresh.
func nodeChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		old, okOld := e.ObjectOld.(*corev1.Node)
		cur, okNew := e.ObjectNew.(*corev1.Node)
		if !okOld || !okNew {
			return true
		}
		return !maps.Equal(old.Labels, cur.Labels) ||
			!maps.Equal(old.Annotations, cur.Annotations) ||
			old.Spec.Unschedulable != cur.Spec.Unschedulable ||
			!slices.Equal(old.Status.Addresses, cur.Status.Addresses) ||
			!maps.Equal(conditionStatus(old), conditionStatus(cur))
	}}
}

func conditionStatus(n *corev1.Node) map[corev1.NodeConditionType]corev1.ConditionStatus {
	out := make(map[corev1.NodeConditionType]corev1.ConditionStatus, len(n.Status.Conditions))
	for _, c := range n.Status.Conditions {
		out[c.Type] = c.Status
	}
	return out
}
