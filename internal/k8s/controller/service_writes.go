package controller

// How a pass writes the addresses it assigned, and the pool annotation
// that marks them as bgplb's, on the Services.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// applyWrites patches Services in parallel and records which resource
// versions predate each write.
func (r *allocationReconciler) applyWrites(ctx context.Context, writes []serviceWrite) error {
	type result struct {
		key      string
		versions []string
		err      error
	}
	results := make([]result, len(writes))
	var wg sync.WaitGroup
	sem := make(chan struct{}, writeParallelism)
	for i, w := range writes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			versions, err := r.writeService(ctx, w)
			results[i] = result{key: translate.ServiceKey(w.svc), versions: versions, err: err}
		}()
	}
	wg.Wait()
	var errs []error
	for _, res := range results {
		// Only a write that went through is in flight; after a failure the
		// next recompute must try again.
		if res.err == nil && len(res.versions) > 0 {
			r.pending[res.key] = res.versions
		}
		if res.err != nil && !apierrors.IsNotFound(res.err) {
			errs = append(errs, res.err)
		}
	}
	return errors.Join(errs...)
}

// writeService sets status.loadBalancer.ingress and the pool annotation.
// It returns the resource versions the cache may still show before it
// catches up with the write.
//
// The Service status endpoint of the API server also applies metadata
// changes, so both go in one write: half the API calls, and the speakers
// see the address and the annotation that makes it theirs at the same time.
// Should an API server ignore the metadata part, a second write sets the
// annotation.
func (r *allocationReconciler) writeService(ctx context.Context, w serviceWrite) ([]string, error) {
	svc := w.svc
	versions := []string{svc.ResourceVersion}
	var pool any = w.pool
	if w.pool == "" {
		pool = nil // a JSON merge patch deletes a key set to null
	}
	annotate := map[string]any{"annotations": map[string]any{v1alpha1.AnnotationAssignedPool: pool}}
	annotated := func(s *corev1.Service) bool { return s.Annotations[v1alpha1.AnnotationAssignedPool] == w.pool }
	if !sameAddrs(translate.IngressAddrs(svc), w.addrs) {
		ingress := make([]corev1.LoadBalancerIngress, 0, len(w.addrs))
		vip := corev1.LoadBalancerIPModeVIP
		for _, a := range w.addrs {
			ingress = append(ingress, corev1.LoadBalancerIngress{IP: a.String(), IPMode: &vip})
		}
		patch := map[string]any{
			"metadata": annotate,
			"status":   map[string]any{"loadBalancer": map[string]any{"ingress": ingress}},
		}
		updated, err := r.patch(ctx, svc, patch, true)
		if err != nil {
			return versions, fmt.Errorf("write status of service %s/%s: %w", svc.Namespace, svc.Name, err)
		}
		if annotated(updated) {
			return versions, nil
		}
		versions = append(versions, updated.ResourceVersion)
	} else if annotated(svc) {
		return versions, nil
	}
	if _, err := r.patch(ctx, svc, map[string]any{"metadata": annotate}, false); err != nil {
		return versions, fmt.Errorf("annotate service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return versions, nil
}

func (r *allocationReconciler) patch(ctx context.Context, svc *corev1.Service, body map[string]any, status bool) (*corev1.Service, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	obj := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name}}
	p := client.RawPatch(types.MergePatchType, raw)
	if status {
		err = r.client.Status().Patch(ctx, obj, p)
	} else {
		err = r.client.Patch(ctx, obj, p)
	}
	return obj, err
}
