package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/ipam"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// Event reasons written on Services.
const (
	EventIPAllocated      = "IPAllocated"
	EventAllocationFailed = v1alpha1.EventReasonAllocationFailed
	EventIPReleased       = "IPReleased"
	EventIPChanged        = "IPChanged"
)

// writeParallelism bounds concurrent API writes in one recompute: enough to
// hide round-trip latency when thousands of Services arrive at once, few
// enough not to trip API priority and fairness.
const writeParallelism = 16

// allocationReconciler assigns addresses to every LoadBalancer Service of
// its class in one level-triggered pass. All events map to a single request,
// so bursts collapse into one recompute, and the work queue runs one
// Reconcile at a time: the allocator has exactly one owner.
type allocationReconciler struct {
	client   client.Client
	recorder events.EventRecorder
	logger   *slog.Logger
	metrics  *controllerMetrics
	// conflicts counts the passes in a row that met write conflicts.
	conflicts conflictStreak
	// class is the spec.loadBalancerClass this controller serves; empty
	// means Services without a class.
	class string

	// alloc is nil until the first recompute, which adopts every address
	// already in Service status before anything new is assigned.
	alloc *ipam.Allocator
	// held lists the Services that hold an assignment in alloc.
	held map[string]bool
	// pending maps a Service to the resource versions that predate our last
	// write to it; while the cache shows one of them, the write is in flight
	// and the Service is left alone instead of being written again.
	pending map[string][]string
	// failures remembers the last failure reported per Service, so that an
	// unchanged failure is not reported on every recompute.
	failures map[string]string
	// lastGood is the last version of each pool that could be translated.
	lastGood map[string]ipam.Pool
	// events queues the events of one recompute until its Service writes
	// are done: the event broadcaster posts them at once, and an event
	// posted next to the status write would delay the address on its way
	// to the speakers.
	events []func()
}

// event queues an event on a Service; flushEvents sends the queue.
func (r *allocationReconciler) event(svc *corev1.Service, eventType, reason, action, note string, args ...any) {
	r.events = append(r.events, func() { r.recorder.Eventf(svc, nil, eventType, reason, action, note, args...) })
}

func (r *allocationReconciler) flushEvents() {
	for _, send := range r.events {
		send()
	}
	r.events = r.events[:0]
}

func newAllocationReconciler(c client.Client, recorder events.EventRecorder, logger *slog.Logger, metrics *controllerMetrics, class string) *allocationReconciler {
	return &allocationReconciler{
		client:   c,
		recorder: recorder,
		logger:   logger,
		metrics:  metrics,
		class:    class,
		held:     map[string]bool{},
		pending:  map[string][]string{},
		failures: map[string]string{},
	}
}

// serves tells whether a Service is a LoadBalancer of this controller's class.
func (r *allocationReconciler) serves(svc *corev1.Service) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.DeletionTimestamp != nil {
		return false
	}
	if svc.Spec.LoadBalancerClass == nil {
		return r.class == ""
	}
	return *svc.Spec.LoadBalancerClass == r.class
}

// serviceWrite is one Service whose status or pool annotation must change.
type serviceWrite struct {
	svc   *corev1.Service
	addrs []netip.Addr
	pool  string
}

func (r *allocationReconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	defer r.metrics.observeReconcile(time.Now())
	c, err := r.read(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	first := r.alloc == nil
	if first {
		r.alloc = ipam.NewAllocator()
	}
	// Pools first: a pool edit may move Services, and the moves must be
	// known before Services are looked at.
	poolErrors, moved := r.setPools(c.pools)
	requests, requestErrors := r.requests(c)
	if first {
		r.adopt(ctx, c.services, requests)
	}
	// Release before assigning, so that an address freed by this change is
	// available to a Service waiting for one in the same pass.
	writes := r.releaseAll(c.services)
	writes = append(writes, r.assignAll(c.services, requests, requestErrors, moved)...)
	err = r.applyWrites(ctx, writes)
	r.flushEvents()
	r.metrics.exportPoolUsage(r.alloc, c.pools)
	err = errors.Join(err, r.writePoolStatus(ctx, c.pools, poolErrors))
	return r.conflicts.end(r.logger, err)
}

// allocationInputs is what one pass reads from the cache: pools and
// Services oldest first, so that every pass sees them in the same order,
// and the labels of each namespace.
type allocationInputs struct {
	pools    []*v1alpha1.IPPool
	services []*corev1.Service
	nsLabels map[string]map[string]string
}

func (r *allocationReconciler) read(ctx context.Context) (allocationInputs, error) {
	var poolList v1alpha1.IPPoolList
	if err := r.client.List(ctx, &poolList); err != nil {
		return allocationInputs{}, fmt.Errorf("list pools: %w", err)
	}
	// Every recompute reads every Service; objects from the cache are only
	// read (writes build new objects), so they are not copied.
	var svcList corev1.ServiceList
	if err := r.client.List(ctx, &svcList, client.UnsafeDisableDeepCopy); err != nil {
		return allocationInputs{}, fmt.Errorf("list services: %w", err)
	}
	var nsList corev1.NamespaceList
	if err := r.client.List(ctx, &nsList); err != nil {
		return allocationInputs{}, fmt.Errorf("list namespaces: %w", err)
	}
	in := allocationInputs{
		pools:    oldestFirst(poolList.Items, func(p *v1alpha1.IPPool) metav1.ObjectMeta { return p.ObjectMeta }),
		services: oldestFirst(svcList.Items, func(s *corev1.Service) metav1.ObjectMeta { return s.ObjectMeta }),
		nsLabels: make(map[string]map[string]string, len(nsList.Items)),
	}
	for _, ns := range nsList.Items {
		in.nsLabels[ns.Name] = ns.Labels
	}
	return in, nil
}

// setPools hands the allocator the pools it can use. It returns why each
// pool is not accepted (or keeps its previous version), and the set of
// Services whose addresses the change took away.
func (r *allocationReconciler) setPools(pools []*v1alpha1.IPPool) (map[string]error, map[string]bool) {
	var candidates []ipam.Pool
	var poolErrors map[string]error
	candidates, r.lastGood, poolErrors = usablePools(pools, r.lastGood)
	rejected, moved := r.alloc.SetPools(candidates)
	for name, err := range rejected {
		poolErrors[name] = err
	}
	movedSet := map[string]bool{}
	for _, key := range moved {
		movedSet[key] = true
	}
	return poolErrors, movedSet
}

// usablePools translates the pools. A pool in use that an edit broke
// keeps its last good version (from lastGood), so a typo moves no
// Service; a broken pool never seen good is left out. It returns the
// pools to use, the good version of each by name for the next pass, and
// the errors by pool name.
func usablePools(pools []*v1alpha1.IPPool, lastGood map[string]ipam.Pool) ([]ipam.Pool, map[string]ipam.Pool, map[string]error) {
	var candidates []ipam.Pool
	good := make(map[string]ipam.Pool, len(pools))
	poolErrors := map[string]error{}
	for _, p := range pools {
		pool, err := translate.AllocatorPool(p)
		if err != nil {
			last, ok := lastGood[p.Name]
			if !ok {
				poolErrors[p.Name] = err
				continue
			}
			poolErrors[p.Name] = fmt.Errorf("%w; the pool keeps its previous version", err)
			pool = last
		}
		candidates = append(candidates, pool)
		good[p.Name] = pool
	}
	return candidates, good, poolErrors
}

// requests translates the Services this controller serves into the
// allocator's requests, by key. A Service that asks for addresses in a
// malformed way has an error, and a request all the same, without the
// addresses, so that its current addresses can be adopted.
func (r *allocationReconciler) requests(in allocationInputs) (map[string]ipam.Service, map[string]error) {
	requests := make(map[string]ipam.Service, len(in.services))
	requestErrors := map[string]error{}
	for _, svc := range in.services {
		if !r.serves(svc) {
			continue
		}
		key := translate.ServiceKey(svc)
		req, err := translate.AllocationRequest(svc, in.nsLabels[svc.Namespace])
		if err != nil {
			requestErrors[key] = err
		}
		requests[key] = req
	}
	return requests, requestErrors
}

// adopt takes the addresses already in the status of the Services served
// into the allocator, at the first pass, before anything is assigned:
// oldest Service first, so a restart never moves an address and the older
// of two conflicting claims wins.
func (r *allocationReconciler) adopt(ctx context.Context, services []*corev1.Service, requests map[string]ipam.Service) {
	logger := log.FromContext(ctx)
	for _, svc := range services {
		key := translate.ServiceKey(svc)
		addrs := translate.IngressAddrs(svc)
		if !r.serves(svc) || len(addrs) == 0 {
			continue
		}
		// A Service whose request cannot be read still holds the
		// addresses in its status; adopting them keeps them from being
		// handed to anyone else.
		if _, err := r.alloc.Adopt(requests[key], addrs); err != nil {
			logger.Info("not adopting addresses from status", "service", key, "reason", err.Error())
			continue
		}
		r.held[key] = true
	}
}

// releaseAll gives back the addresses of the Services that are no longer
// served, returning the writes that clear what was written on them, and
// forgets the Services that are gone.
func (r *allocationReconciler) releaseAll(services []*corev1.Service) []serviceWrite {
	var writes []serviceWrite
	seen := make(map[string]bool, len(services))
	for _, svc := range services {
		key := translate.ServiceKey(svc)
		seen[key] = true
		if !r.serves(svc) {
			if w, ok := r.release(svc, key); ok {
				writes = append(writes, w)
			}
		}
	}
	for key := range r.held {
		if !seen[key] {
			r.alloc.Release(key)
			delete(r.held, key)
			delete(r.pending, key)
		}
	}
	for key := range r.failures {
		if !seen[key] {
			delete(r.failures, key)
		}
	}
	return writes
}

// assignAll assigns addresses to every Service served, oldest first, and
// returns the writes that show them. moved are the Services whose
// addresses a pool change took away.
func (r *allocationReconciler) assignAll(services []*corev1.Service, requests map[string]ipam.Service, requestErrors map[string]error, moved map[string]bool) []serviceWrite {
	var writes []serviceWrite
	for _, svc := range services {
		key := translate.ServiceKey(svc)
		if !r.serves(svc) {
			continue
		}
		if err := requestErrors[key]; err != nil {
			r.fail(svc, key, err)
		} else {
			r.assign(svc, key, requests[key], moved[key])
		}
		if w, ok := r.desiredWrite(svc, key); ok {
			writes = append(writes, w)
		}
	}
	return writes
}

// assign assigns addresses to one Service and reports what changed: a
// move forced by a pool change is a warning.
func (r *allocationReconciler) assign(svc *corev1.Service, key string, req ipam.Service, moved bool) {
	before, hadBefore := r.alloc.Assignment(key)
	got, err := r.alloc.Assign(req)
	if err != nil {
		r.fail(svc, key, err)
		return
	}
	r.held[key] = true
	delete(r.failures, key)
	switch {
	case moved:
		r.event(svc, corev1.EventTypeWarning, EventIPChanged, "Allocate",
			"pool %q no longer holds the previous address; assigned %s", got.Pool, addrList(got.Addrs))
	case hadBefore && !slices.Equal(before.Addrs, got.Addrs):
		r.event(svc, corev1.EventTypeNormal, EventIPChanged, "Allocate",
			"assigned %s from pool %q (was %s)", addrList(got.Addrs), got.Pool, addrList(before.Addrs))
	case !hadBefore && !sameAddrs(translate.IngressAddrs(svc), got.Addrs):
		r.event(svc, corev1.EventTypeNormal, EventIPAllocated, "Allocate",
			"assigned %s from pool %q", addrList(got.Addrs), got.Pool)
	}
}

// release gives back the addresses of a Service that is no longer ours
// (deleted, or no longer a LoadBalancer) and clears what we wrote on it. It is
// level-based: a Service that still carries our pool annotation is cleaned
// up on every recompute until the cleanup sticks.
func (r *allocationReconciler) release(svc *corev1.Service, key string) (serviceWrite, bool) {
	delete(r.failures, key)
	if had, ok := r.alloc.Assignment(key); ok {
		r.alloc.Release(key)
		delete(r.held, key)
		if svc.DeletionTimestamp == nil {
			r.event(svc, corev1.EventTypeNormal, EventIPReleased, "Release",
				"released %s to pool %q", addrList(had.Addrs), had.Pool)
		}
	}
	if svc.DeletionTimestamp != nil || r.inFlight(svc, key) || r.otherClass(svc) {
		return serviceWrite{}, false
	}
	if _, annotated := svc.Annotations[v1alpha1.AnnotationAssignedPool]; !annotated {
		return serviceWrite{}, false
	}
	w := serviceWrite{svc: svc, addrs: translate.IngressAddrs(svc)}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		// No load balancer serves a Service of another type, so the
		// addresses in its status can only be ours.
		w.addrs = nil
	}
	return w, true
}

// otherClass tells whether a Service is a LoadBalancer of a class that
// this controller does not serve. A Service's class is set when it is
// created and never changes, so such a Service was never this
// controller's: its addresses and pool annotation belong to whoever
// serves its class, possibly another bgplb controller, and are left alone.
func (r *allocationReconciler) otherClass(svc *corev1.Service) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	class := ""
	if svc.Spec.LoadBalancerClass != nil {
		class = *svc.Spec.LoadBalancerClass
	}
	return class != r.class
}

// fail reports and counts a failure once per distinct message.
func (r *allocationReconciler) fail(svc *corev1.Service, key string, err error) {
	msg := err.Error()
	if r.failures[key] == msg {
		return
	}
	r.failures[key] = msg
	r.metrics.allocationFailures.Inc()
	r.event(svc, corev1.EventTypeWarning, EventAllocationFailed, "Allocate", "%s", msg)
}

// desiredWrite compares what the Service shows with what the allocator
// holds for it.
func (r *allocationReconciler) desiredWrite(svc *corev1.Service, key string) (serviceWrite, bool) {
	if r.inFlight(svc, key) {
		return serviceWrite{}, false
	}
	got, ok := r.alloc.Assignment(key)
	if !ok {
		// Nothing assigned (yet): leave whatever the Service shows, so a
		// failure never removes an address a client may be using.
		return serviceWrite{}, false
	}
	if sameAddrs(translate.IngressAddrs(svc), got.Addrs) && svc.Annotations[v1alpha1.AnnotationAssignedPool] == got.Pool {
		return serviceWrite{}, false
	}
	return serviceWrite{svc: svc, addrs: got.Addrs, pool: got.Pool}, true
}

func (r *allocationReconciler) inFlight(svc *corev1.Service, key string) bool {
	if slices.Contains(r.pending[key], svc.ResourceVersion) {
		return true
	}
	delete(r.pending, key)
	return false
}

// writePoolStatus keeps each pool's Accepted condition and usage counts
// current, writing only pools whose status changed. It runs in the pass
// that writes the Services, right after their writes, so that a pool
// counts an address by the time a Service shows it; during a burst, one
// pass covers every Service that arrived meanwhile, and so does its one
// write of the pool.
func (r *allocationReconciler) writePoolStatus(ctx context.Context, pools []*v1alpha1.IPPool, poolErrors map[string]error) error {
	var errs []error
	for _, p := range pools {
		status := *p.Status.DeepCopy()
		status.ObservedGeneration = p.Generation
		cond := metav1.Condition{
			Type:               v1alpha1.ConditionAccepted,
			Status:             metav1.ConditionTrue,
			Reason:             v1alpha1.ReasonAccepted,
			Message:            "the pool is in use",
			ObservedGeneration: p.Generation,
		}
		status.IPv4, status.IPv6 = nil, nil
		if err := poolErrors[p.Name]; err != nil {
			cond.Status = metav1.ConditionFalse
			cond.Reason = v1alpha1.ReasonInvalid
			if errors.Is(err, ipam.ErrOverlap) {
				cond.Reason = v1alpha1.ReasonOverlap
			}
			cond.Message = err.Error()
		}
		// A pool that keeps its previous version after a broken edit is
		// still in use, and its counts say so; an unused pool has none.
		for fam, u := range r.alloc.Usage(p.Name) {
			usage := &v1alpha1.FamilyUsage{Assigned: saturate(u.Assigned), Available: saturate(u.Available)}
			if fam == ipam.IPv4 {
				status.IPv4 = usage
			} else {
				status.IPv6 = usage
			}
		}
		meta.SetStatusCondition(&status.Conditions, cond)
		if equality.Semantic.DeepEqual(status, p.Status) {
			continue
		}
		if err := r.patchPoolStatus(ctx, p, status); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("write status of pool %s: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
}

// patchPoolStatus replaces a pool's status. The controller is the only
// writer of pool status and computes it afresh on every pass, so the
// write needs no resource version: with one, a pass that follows the
// previous write before the cache has caught up with it would fail on a
// conflict and cause yet another pass.
func (r *allocationReconciler) patchPoolStatus(ctx context.Context, p *v1alpha1.IPPool, status v1alpha1.IPPoolStatus) error {
	// A merge patch from the cached pool names every field of the status
	// that changed, and sets to null those that went, such as the counts
	// of a family the pool no longer has.
	updated := p.DeepCopy()
	updated.Status = status
	return r.client.Status().Patch(ctx, updated, client.MergeFrom(p))
}

func saturate(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}

// oldestFirst returns pointers to the items ordered by creation time, then
// name, so that every recompute sees objects in the same order.
func oldestFirst[T any](items []T, metaOf func(*T) metav1.ObjectMeta) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := metaOf(out[i]), metaOf(out[j])
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out
}

func sameAddrs(a, b []netip.Addr) bool {
	return slices.Equal(a, b)
}

func addrList(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}
