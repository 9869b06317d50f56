package speaker

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
)

// statusWriteInterval is the least time between two writes of a node's
// status object: a change after a quiet time is written at once, but
// during a burst of changes the writes coalesce, so the API server sees at
// most one write a second per node, and none while nothing changes.
const statusWriteInterval = time.Second

// nodeStatusWriter keeps the node's BGPNodeStatus equal to the last
// recompute's result. One goroutine writes; recomputes only hand it the
// newest state and a signal, so a slow API server never holds up BGP.
type nodeStatusWriter struct {
	client client.Client
	reader client.Reader
	node   string
	logger *slog.Logger

	mu      sync.Mutex
	want    *v1alpha1.BGPNodeStatusStatus
	nodeUID types.UID
	signal  chan struct{}
}

func newNodeStatusWriter(c client.Client, reader client.Reader, node string, logger *slog.Logger) *nodeStatusWriter {
	return &nodeStatusWriter{client: c, reader: reader, node: node, logger: logger, signal: make(chan struct{}, 1)}
}

// set hands the writer the status the node should show.
func (w *nodeStatusWriter) set(status v1alpha1.BGPNodeStatusStatus, nodeUID types.UID) {
	w.mu.Lock()
	w.want, w.nodeUID = &status, nodeUID
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// Start writes until ctx ends. It implements manager.Runnable.
func (w *nodeStatusWriter) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.signal:
		}
		w.mu.Lock()
		want, uid := w.want, w.nodeUID
		w.mu.Unlock()
		if want != nil {
			if err := w.write(ctx, *want, uid); err != nil && ctx.Err() == nil {
				w.logger.Warn("cannot write the node's BGPNodeStatus; retrying", "error", err)
				// Try again after the interval even without a new change.
				select {
				case w.signal <- struct{}{}:
				default:
				}
			}
		}
		t := time.NewTimer(statusWriteInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// write creates the status object if needed and updates its status if it
// differs from want.
func (w *nodeStatusWriter) write(ctx context.Context, want v1alpha1.BGPNodeStatusStatus, nodeUID types.UID) error {
	var cur v1alpha1.BGPNodeStatus
	err := w.client.Get(ctx, client.ObjectKey{Name: w.node}, &cur)
	if apierrors.IsNotFound(err) {
		cur = v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: w.node}}
		if nodeUID != "" {
			// The object goes when the Node goes, so a node removed for
			// good leaves no claim to announce anything behind.
			cur.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: w.node, UID: nodeUID}}
		}
		if err := w.client.Create(ctx, &cur); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create BGPNodeStatus %s: %w", w.node, err)
		}
		if err := w.reader.Get(ctx, client.ObjectKey{Name: w.node}, &cur); err != nil {
			return fmt.Errorf("read BGPNodeStatus %s: %w", w.node, err)
		}
	} else if err != nil {
		return fmt.Errorf("read BGPNodeStatus %s: %w", w.node, err)
	}
	if equality.Semantic.DeepEqual(cur.Status, want) {
		return nil
	}
	cur.Status = want
	if err := w.client.Status().Update(ctx, &cur); err != nil {
		return fmt.Errorf("write BGPNodeStatus %s: %w", w.node, err)
	}
	return nil
}

// nodeStatusOf is what a recompute's result shows in the node's status.
func nodeStatusOf(res announce.Result) v1alpha1.BGPNodeStatusStatus {
	st := v1alpha1.BGPNodeStatusStatus{
		AnnouncedServices: int32(len(res.Announced)),
		HeldServices:      int32(len(res.Held)),
	}
	if n := len(res.Announced) + len(res.Held); n > 0 {
		st.Services = make([]v1alpha1.ServiceAnnouncement, 0, n)
	}
	for _, key := range res.Announced {
		st.Services = append(st.Services, v1alpha1.ServiceAnnouncement{Name: key, State: v1alpha1.AnnouncementAnnounced})
	}
	for _, h := range res.Held {
		since, until := metav1.NewTime(h.Since.Truncate(time.Second)), metav1.NewTime(h.Until.Truncate(time.Second))
		st.Services = append(st.Services, v1alpha1.ServiceAnnouncement{Name: h.Service, State: v1alpha1.AnnouncementHeld,
			HeldSince: &since, HeldUntil: &until})
	}
	slices.SortFunc(st.Services, func(a, b v1alpha1.ServiceAnnouncement) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return st
}

// holdTracker carries, from one recompute to the next, which Services the
// node announces and since when it holds others. At start it takes both
// from the node's own status object, so that a restarted speaker neither
// holds back what it announced before (routers kept those routes through
// graceful restart) nor starts a hold time over.
type holdTracker struct {
	loaded    bool
	admitted  map[string]bool
	heldSince map[string]time.Time
}

func (h *holdTracker) load(own *v1alpha1.BGPNodeStatus) {
	h.loaded = true
	h.admitted, h.heldSince = map[string]bool{}, map[string]time.Time{}
	if own == nil {
		return
	}
	for _, s := range own.Status.Services {
		switch {
		case s.State == v1alpha1.AnnouncementAnnounced:
			h.admitted[s.Name] = true
		case s.State == v1alpha1.AnnouncementHeld && s.HeldSince != nil:
			h.heldSince[s.Name] = s.HeldSince.Time
		}
	}
}

func (h *holdTracker) update(res announce.Result) {
	h.admitted = make(map[string]bool, len(res.Announced))
	for _, key := range res.Announced {
		h.admitted[key] = true
	}
	h.heldSince = make(map[string]time.Time, len(res.Held))
	for _, held := range res.Held {
		h.heldSince[held.Service] = held.Since
	}
}

// announcers maps each Service to the other nodes whose status says they
// announce it.
func announcers(statuses []v1alpha1.BGPNodeStatus, self string) map[string][]string {
	out := map[string][]string{}
	for _, st := range statuses {
		if st.Name == self {
			continue
		}
		for _, s := range st.Status.Services {
			if s.State == v1alpha1.AnnouncementAnnounced {
				out[s.Name] = append(out[s.Name], st.Name)
			}
		}
	}
	return out
}

// announcedElsewhere tells whether another node announces svc. A node's
// claim counts only while the Service's endpoints still let that node
// announce it: a status written just before the node lost its endpoints,
// or before its speaker died, must not keep this node's addition held
// while nobody forwards the traffic.
func announcedElsewhere(svc *announce.Service, others []string) bool {
	for _, n := range others {
		if svc.AnnounceableFrom(n) {
			return true
		}
	}
	return false
}

// releasedAt reads the Service's release annotation.
func releasedAt(s *corev1.Service) (time.Time, error) {
	v, ok := s.Annotations[v1alpha1.AnnotationReleaseHeldAdditions]
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("annotation %s: invalid time %q: want RFC 3339, such as 2026-11-24T07:00:00Z", v1alpha1.AnnotationReleaseHeldAdditions, v)
	}
	return t, nil
}

// otherNodesChanged passes changes of other nodes' status objects that
// change what they announce, while some advertisement holds additions
// (nothing else reads them); the node's own writes start no recompute.
func otherNodesChanged(self string, holdsInUse *atomic.Bool) predicate.Funcs {
	other := func(o client.Object) bool { return o.GetName() != self && holdsInUse.Load() }
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return other(e.Object) },
		DeleteFunc: func(e event.DeleteEvent) bool { return other(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool {
			old, okOld := e.ObjectOld.(*v1alpha1.BGPNodeStatus)
			cur, okNew := e.ObjectNew.(*v1alpha1.BGPNodeStatus)
			if !okOld || !okNew {
				return true
			}
			return other(cur) && !equality.Semantic.DeepEqual(announcedNames(old), announcedNames(cur))
		},
		GenericFunc: func(e event.GenericEvent) bool { return other(e.Object) },
	}
}

func announcedNames(st *v1alpha1.BGPNodeStatus) []string {
	var names []string
	for _, s := range st.Status.Services {
		if s.State == v1alpha1.AnnouncementAnnounced {
			names = append(names, s.Name)
		}
	}
	return names
}

// heldServices is the number of Services the speaker holds back.
var heldServices = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "bgplb_speaker_held_services",
	Help: "Services this node would announce but holds back under an advertisement's additionHold.",
})

func init() {
	metrics.Registry.MustRegister(heldServices)
}

// clearNodeStatus empties the node's status when its speaker withdraws
// everything on the way out, so that no other node waits for next hops
// that are gone.
func clearNodeStatus(ctx context.Context, c client.Client, reader client.Reader, node string) error {
	var cur v1alpha1.BGPNodeStatus
	if err := reader.Get(ctx, client.ObjectKey{Name: node}, &cur); err != nil {
		return client.IgnoreNotFound(err)
	}
	cur.Status = v1alpha1.BGPNodeStatusStatus{}
	return c.Status().Update(ctx, &cur)
}
