package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// advertisementReconciler keeps the conditions of every BGPAdvertisement
// current in one level-triggered pass: Accepted says whether the speakers
// can use it, and Weighted, for advertisements with weightByEndpoints,
// whether every Service it selects is announced with weights. It writes an
// advertisement's status only when it changed, so a steady cluster sees no
// writes from it.
type advertisementReconciler struct {
	client client.Client
	logger *slog.Logger
	// conflicts counts the passes in a row that met write conflicts.
	conflicts conflictStreak
}

func newAdvertisementReconciler(c client.Client, logger *slog.Logger) *advertisementReconciler {
	return &advertisementReconciler{client: c, logger: logger}
}

func (r *advertisementReconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	var adList v1alpha1.BGPAdvertisementList
	if err := r.client.List(ctx, &adList); err != nil {
		return reconcile.Result{}, fmt.Errorf("list advertisements: %w", err)
	}
	// Pools and Services from the cache are only read, so they are not
	// copied.
	var poolList v1alpha1.IPPoolList
	if err := r.client.List(ctx, &poolList, client.UnsafeDisableDeepCopy); err != nil {
		return reconcile.Result{}, fmt.Errorf("list pools: %w", err)
	}
	pools := translate.AnnouncePools(poolList.Items)
	var clusterServices []announce.Service
	if slices.ContainsFunc(adList.Items, func(a v1alpha1.BGPAdvertisement) bool { return a.Spec.WeightByEndpoints }) {
		var svcList corev1.ServiceList
		if err := r.client.List(ctx, &svcList, client.UnsafeDisableDeepCopy); err != nil {
			return reconcile.Result{}, fmt.Errorf("list services: %w", err)
		}
		clusterServices = unweightedServices(svcList.Items)
	}

	var errs []error
	for i := range adList.Items {
		ad := &adList.Items[i]
		errs = append(errs, writeConfigStatus(ctx, r.client, ad, &ad.Status, advertisementStatus(ad, pools, clusterServices)))
	}
	return r.conflicts.end(r.logger, errors.Join(errs...))
}

// unweightedServices returns the LoadBalancer Services that this
// controller assigned addresses to and that have externalTrafficPolicy:
// Cluster, which the speakers announce without weight, sorted by namespace
// and then name.
func unweightedServices(items []corev1.Service) []announce.Service {
	var unweighted []*corev1.Service
	for i := range items {
		svc := &items[i]
		if pool, _ := translate.AssignedPool(svc); pool == "" || svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.DeletionTimestamp != nil ||
			svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
			continue
		}
		unweighted = append(unweighted, svc)
	}
	slices.SortFunc(unweighted, func(a, b *corev1.Service) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	out := make([]announce.Service, 0, len(unweighted))
	for _, svc := range unweighted {
		out = append(out, translate.SelectedService(svc))
	}
	return out
}

// advertisementStatus returns the status an advertisement should show.
// Conditions whose status stays the same keep their transition time, so
// the result equals the current status when nothing changed.
func advertisementStatus(ad *v1alpha1.BGPAdvertisement, pools []announce.Pool, clusterServices []announce.Service) v1alpha1.ConfigStatus {
	status := *ad.Status.DeepCopy()
	status.ObservedGeneration = ad.Generation
	accepted := metav1.Condition{
		Type:               v1alpha1.ConditionAccepted,
		Status:             metav1.ConditionTrue,
		Reason:             v1alpha1.ReasonAccepted,
		Message:            "the speakers use this advertisement",
		ObservedGeneration: ad.Generation,
	}
	translated, err := translate.UsableAdvertisement(ad)
	if err != nil {
		// The speakers fall back to the last version they could use; one
		// that never saw such a version has nothing.
		accepted.Status = metav1.ConditionFalse
		accepted.Reason = v1alpha1.ReasonInvalid
		accepted.Message = err.Error() + "; the speakers keep using the last valid version of this advertisement they saw, if they saw one"
	}
	meta.SetStatusCondition(&status.Conditions, accepted)

	if !ad.Spec.WeightByEndpoints {
		meta.RemoveStatusCondition(&status.Conditions, v1alpha1.ConditionWeighted)
		return status
	}
	weighted := metav1.Condition{
		Type:               v1alpha1.ConditionWeighted,
		Status:             metav1.ConditionTrue,
		Reason:             v1alpha1.ReasonWeighted,
		Message:            "no selected Service has externalTrafficPolicy: Cluster",
		ObservedGeneration: ad.Generation,
	}
	if accepted.Status != metav1.ConditionTrue {
		weighted.Status = metav1.ConditionUnknown
		weighted.Reason = v1alpha1.ReasonInvalid
		weighted.Message = "the advertisement is not accepted"
	} else {
		var first string
		n := 0
		for _, svc := range clusterServices {
			if announce.Selects(translated, pools, svc) {
				if n == 0 {
					first = svc.Key
				}
				n++
			}
		}
		switch {
		case n == 1:
			weighted.Status = metav1.ConditionFalse
			weighted.Reason = v1alpha1.ReasonClusterServices
			weighted.Message = fmt.Sprintf("Service %s has externalTrafficPolicy: Cluster and is announced without weight", first)
		case n > 1:
			weighted.Status = metav1.ConditionFalse
			weighted.Reason = v1alpha1.ReasonClusterServices
			weighted.Message = fmt.Sprintf("%d selected Services have externalTrafficPolicy: Cluster and are announced without weight, the first of them %s", n, first)
		}
	}
	meta.SetStatusCondition(&status.Conditions, weighted)
	return status
}

// serviceSelectionChanged passes Service events that can change an
// advertisement's conditions: creation, deletion, and updates of the type,
// the traffic policy, the labels or the assigned pool. Status updates,
// such as the address the controller writes, pass only together with the
// pool annotation.
func serviceSelectionChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		old, okOld := e.ObjectOld.(*corev1.Service)
		cur, okNew := e.ObjectNew.(*corev1.Service)
		if !okOld || !okNew {
			return true
		}
		return old.Spec.Type != cur.Spec.Type ||
			old.Spec.ExternalTrafficPolicy != cur.Spec.ExternalTrafficPolicy ||
			!maps.Equal(old.Labels, cur.Labels) ||
			old.Annotations[v1alpha1.AnnotationAssignedPool] != cur.Annotations[v1alpha1.AnnotationAssignedPool] ||
			(old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil)
	}}
}

// writeConfigStatus sets a configuration object's status to want and
// writes it, unless it shows want already: a steady cluster sees no
// writes. A conflict means the cache is behind; the pass ends with
// conflictStreak, and the next one computes again from the newer object.
func writeConfigStatus(ctx context.Context, c client.Client, obj client.Object, status *v1alpha1.ConfigStatus, want v1alpha1.ConfigStatus) error {
	if equality.Semantic.DeepEqual(want, *status) {
		return nil
	}
	*status = want
	if err := c.Status().Update(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("write status of %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}
