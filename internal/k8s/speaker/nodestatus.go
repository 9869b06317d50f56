package speaker

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/bgp"
)

// statusWriteInterval is the least time between two writes of a node's
// status object: a change after a quiet time is written at once, but
// during a burst of changes the writes coalesce, so the API server sees at
// most one write a second per node, and none while nothing changes. A
// status listing thousands of Services weighs hundreds of kilobytes, and
// every speaker receives every write; such a status is written at most
// once per second per thousand Services, up to maxStatusWriteInterval.
const (
	statusWriteInterval    = time.Second
	maxStatusWriteInterval = 10 * time.Second
)

// statusWriteTimeout bounds one write of the status object, so that a
// hung API server does not stop the writer for good.
const statusWriteTimeout = 15 * time.Second

// writeInterval is the least time between two writes of a status listing
// n Services.
func writeInterval(n int) time.Duration {
	return min(max(statusWriteInterval, time.Duration(n/1000)*time.Second), maxStatusWriteInterval)
}

// sessionRefresh is how often the writer looks at the engine's sessions
// for changes that come with no event (BFD state, prefix counts).
const sessionRefresh = time.Second

// nodeStatusWriter keeps the node's BGPNodeStatus and the session metrics
// equal to the engine's sessions and the last recompute's result. One
// goroutine writes; recomputes only hand it their result and a signal, so
// a slow API server never holds up BGP.
type nodeStatusWriter struct {
	client client.Client
	reader client.Reader
	engine bgp.Engine
	node   string
	logger *slog.Logger

	mu sync.Mutex
	// services is nil until the first recompute: a status written before
	// it would claim the node announces nothing.
	services *v1alpha1.BGPNodeStatusStatus
	nodeUID  types.UID
	// peerAddrs maps each configured peer to its address; problems are
	// the configuration objects the speaker could not use, with why.
	peerAddrs map[string]string
	problems  map[string]string
	director  *metav1.Condition
	signal    chan struct{}

	metrics *speakerMetrics
	gauges  sessionGauges
}

func newNodeStatusWriter(c client.Client, reader client.Reader, engine bgp.Engine, node string, logger *slog.Logger, metrics *speakerMetrics) *nodeStatusWriter {
	return &nodeStatusWriter{client: c, reader: reader, engine: engine, node: node, logger: logger, signal: make(chan struct{}, 1),
		metrics: metrics, gauges: sessionGauges{metrics: metrics}}
}

// recomputeFindings is what a recompute hands the status writer.
type recomputeFindings struct {
	services v1alpha1.BGPNodeStatusStatus
	nodeUID  types.UID
	// peerAddrs are the peers' addresses, by peer name.
	peerAddrs map[string]string
	// problems are the configuration problems, by object ("Kind/name").
	problems map[string]string
	// directorCondition is the DirectorReady condition, nil while no
	// pool has the director on.
	directorCondition *metav1.Condition
}

// set hands the writer what the last recompute found.
func (w *nodeStatusWriter) set(f recomputeFindings) {
	w.mu.Lock()
	w.services, w.nodeUID, w.peerAddrs, w.problems, w.director = &f.services, f.nodeUID, f.peerAddrs, f.problems, f.directorCondition
	w.mu.Unlock()
	w.poke()
}

func (w *nodeStatusWriter) poke() {
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// Start writes until ctx ends. It implements manager.Runnable.
func (w *nodeStatusWriter) Start(ctx context.Context) error {
	changes := w.engine.SessionChanges()
	refresh := time.NewTicker(sessionRefresh)
	defer refresh.Stop()
	var lastWrite time.Time
	interval := statusWriteInterval
	var pending *time.Timer
	var due <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case s, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			w.metrics.sessionStateChanges.WithLabelValues(s.Peer, string(s.State)).Inc()
		case <-w.signal:
		case <-refresh.C:
		case <-due:
			due = nil
		}
		if due != nil {
			continue // a write is already scheduled; it will see this change
		}
		if wait := time.Until(lastWrite.Add(interval)); wait > 0 {
			pending = time.NewTimer(wait)
			due = pending.C
			continue
		}
		want, ok := w.build(ctx)
		if !ok {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, statusWriteTimeout)
		wrote, err := w.write(wctx, want)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			w.logger.Warn("cannot write the node's BGPNodeStatus; retrying", "error", err)
			lastWrite = time.Now()
			pending = time.NewTimer(interval)
			due = pending.C
		case wrote:
			lastWrite = time.Now()
			interval = writeInterval(len(want.status.Services))
		}
	}
}

// build returns the status the node should show now, or false before the
// first recompute.
func (w *nodeStatusWriter) build(ctx context.Context) (nodeStatus, bool) {
	w.mu.Lock()
	if w.services == nil {
		w.mu.Unlock()
		return nodeStatus{}, false
	}
	want := nodeStatus{status: *w.services, uid: w.nodeUID, director: w.director}
	peerAddrs, problems := w.peerAddrs, w.problems
	w.mu.Unlock()

	sessions, err := w.engine.Sessions(ctx)
	if err != nil {
		return nodeStatus{}, false
	}
	w.gauges.set(sessions)
	established := 0
	for _, s := range sessions {
		ps := v1alpha1.PeerSession{Peer: s.Peer, PeerAddress: peerAddrs[s.Peer], State: string(s.State),
			PrefixesSent: int32(s.Announced), BFD: s.BFD, GracefulRestart: s.GracefulRestart, LastError: s.LastError}
		if !s.Since.IsZero() {
			since := metav1.NewTime(s.Since.Truncate(time.Second))
			ps.Since = &since
		}
		if s.State == bgp.StateEstablished {
			established++
		}
		want.status.Sessions = append(want.status.Sessions, ps)
	}
	want.status.SessionsEstablished = fmt.Sprintf("%d/%d", established, len(sessions))
	want.condition = configurationCondition(problems)
	return want, true
}

// nodeStatus is what the writer wants the node's object to show; the
// condition is merged into the object's current conditions, so that its
// transition time stays while its status does.
type nodeStatus struct {
	status    v1alpha1.BGPNodeStatusStatus
	condition metav1.Condition
	// director is the DirectorReady condition; nil removes it.
	director *metav1.Condition
	uid      types.UID
}

// maxConditionMessage keeps a condition's message within the API's limit.
const maxConditionMessage = 32 * 1024

// configurationCondition says whether the speaker uses every configuration
// object, naming those it does not.
func configurationCondition(problems map[string]string) metav1.Condition {
	if len(problems) == 0 {
		return metav1.Condition{Type: v1alpha1.ConditionConfigurationValid, Status: metav1.ConditionTrue,
			Reason: v1alpha1.ReasonAllValid, Message: "every configuration object is in use as written"}
	}
	lines := make([]string, 0, len(problems))
	for obj, msg := range problems {
		lines = append(lines, obj+": "+msg)
	}
	slices.Sort(lines)
	return metav1.Condition{Type: v1alpha1.ConditionConfigurationValid, Status: metav1.ConditionFalse,
		Reason: v1alpha1.ReasonKeepingLastValid, Message: conditionMessage(strings.Join(lines, "; "))}
}

// conditionMessage cuts msg to the API's limit on a character boundary:
// the API server would store a broken character as U+FFFD, and the status
// would never compare equal again.
func conditionMessage(msg string) string {
	if len(msg) > maxConditionMessage {
		msg = strings.ToValidUTF8(msg[:maxConditionMessage-3], "") + "..."
	}
	return msg
}

// write creates the status object if needed and updates its status if it
// differs from want; it says whether it wrote.
func (w *nodeStatusWriter) write(ctx context.Context, want nodeStatus) (bool, error) {
	var cur v1alpha1.BGPNodeStatus
	err := w.client.Get(ctx, client.ObjectKey{Name: w.node}, &cur)
	if apierrors.IsNotFound(err) {
		err = createNodeStatus(ctx, w.client, w.reader, w.node, want.uid, &cur)
	} else if err != nil {
		err = fmt.Errorf("read BGPNodeStatus %s: %w", w.node, err)
	}
	if err != nil {
		return false, err
	}
	status := want.status
	status.Conditions = slices.Clone(cur.Status.Conditions)
	meta.SetStatusCondition(&status.Conditions, want.condition)
	if want.director != nil {
		meta.SetStatusCondition(&status.Conditions, *want.director)
	} else {
		meta.RemoveStatusCondition(&status.Conditions, v1alpha1.ConditionDirectorReady)
	}
	if equality.Semantic.DeepEqual(cur.Status, status) {
		return false, nil
	}
	cur.Status = status
	if err := w.client.Status().Update(ctx, &cur); err != nil {
		return false, fmt.Errorf("write BGPNodeStatus %s: %w", w.node, err)
	}
	return true, nil
}

// createNodeStatus creates the node's status object, unless another
// writer just did, and reads it into cur.
func createNodeStatus(ctx context.Context, c client.Client, reader client.Reader, node string, nodeUID types.UID, cur *v1alpha1.BGPNodeStatus) error {
	*cur = v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: node}}
	if nodeUID != "" {
		// The object goes when the Node goes, so a node removed for good
		// leaves no claim to announce anything behind.
		cur.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node, UID: nodeUID}}
	}
	if err := c.Create(ctx, cur); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create BGPNodeStatus %s: %w", node, err)
	}
	if err := reader.Get(ctx, client.ObjectKey{Name: node}, cur); err != nil {
		return fmt.Errorf("read BGPNodeStatus %s: %w", node, err)
	}
	return nil
}

// nodeStatusOf is what a recompute's result and the node's drain show in
// the node's status.
func nodeStatusOf(res announce.Result, drain nodeDrain, directing directorFindings) v1alpha1.BGPNodeStatusStatus {
	st := v1alpha1.BGPNodeStatusStatus{
		AnnouncedServices: int32(len(res.Announced)),
		HeldServices:      int32(len(res.Held)),
		Drain:             drain.status(),
		Director:          directing.node,
	}
	if n := len(res.Announced) + len(res.Held) + len(directing.finishing); n > 0 {
		st.Services = make([]v1alpha1.ServiceAnnouncement, 0, n)
	}
	draining := make(map[string]bool, len(res.Draining))
	for _, key := range res.Draining {
		draining[key] = true
	}
	for _, key := range res.Announced {
		state := v1alpha1.AnnouncementAnnounced
		if draining[key] {
			state = v1alpha1.AnnouncementDraining
		}
		st.Services = append(st.Services, v1alpha1.ServiceAnnouncement{Name: key, State: state})
	}
	for _, h := range res.Held {
		since, until := metav1.NewTime(h.Since.Truncate(time.Second)), metav1.NewTime(h.Until.Truncate(time.Second))
		st.Services = append(st.Services, v1alpha1.ServiceAnnouncement{Name: h.Service, State: v1alpha1.AnnouncementHeld,
			HeldSince: &since, HeldUntil: &until})
	}
	for _, key := range directing.finishing {
		st.Services = append(st.Services, v1alpha1.ServiceAnnouncement{Name: key, State: v1alpha1.AnnouncementFinishing})
	}
	slices.SortFunc(st.Services, func(a, b v1alpha1.ServiceAnnouncement) int { return cmp.Compare(a.Name, b.Name) })
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
		case s.State == v1alpha1.AnnouncementAnnounced || s.State == v1alpha1.AnnouncementDraining:
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
		// A node without an Established session carries no traffic,
		// whatever it would announce.
		if st.Name == self || !anyEstablished(&st) {
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

func anyEstablished(st *v1alpha1.BGPNodeStatus) bool {
	for _, s := range st.Status.Sessions {
		if s.State == string(bgp.StateEstablished) {
			return true
		}
	}
	return false
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

// othersRead says which parts of other nodes' status objects this node's
// rules read: the Services they announce or hold while some advertisement
// holds additions, and also their draining and finishing Services and
// their director state while some pool has the director on. Nothing else
// reads them, so otherwise their changes start no recompute.
type othersRead struct {
	holds, director atomic.Bool
}

// otherNodesChanged passes changes of other nodes' status objects that
// change what this node reads from them; the node's own writes start no
// recompute.
//
// A status that carries director state counts whatever this node's last
// recompute found: a node learns that the director is in use only when it
// recomputes, and a change that came in between (another node's datapath
// becoming ready) must not be lost, or this node would forward by tables
// without that node until something else changed.
func otherNodesChanged(self string, reads *othersRead) predicate.Funcs {
	other := func(o client.Object) bool {
		return o.GetName() != self && (reads.holds.Load() || reads.director.Load() || hasDirector(o))
	}
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return other(e.Object) },
		DeleteFunc: func(e event.DeleteEvent) bool { return other(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool {
			old, okOld := e.ObjectOld.(*v1alpha1.BGPNodeStatus)
			cur, okNew := e.ObjectNew.(*v1alpha1.BGPNodeStatus)
			if !okOld || !okNew {
				return true
			}
			if cur.Name == self {
				return false
			}
			director := reads.director.Load() || hasDirector(old) || hasDirector(cur)
			if !reads.holds.Load() && !director {
				return false
			}
			return !slices.Equal(claims(old, director), claims(cur, director))
		},
		GenericFunc: func(e event.GenericEvent) bool { return other(e.Object) },
	}
}

// hasDirector says whether a status object carries director state.
func hasDirector(o client.Object) bool {
	st, ok := o.(*v1alpha1.BGPNodeStatus)
	return ok && st.Status.Director != nil
}

// claims lists the Services a status says its node announces or holds
// back, each with its state: what other nodes read from it. A hold counts
// because a release annotation is judged against the holds seen before
// it. With director, draining and finishing Services count too, and so
// does the node's director state, since they decide the owner tables.
func claims(st *v1alpha1.BGPNodeStatus, director bool) []string {
	var out []string
	for _, s := range st.Status.Services {
		if s.State == v1alpha1.AnnouncementAnnounced || s.State == v1alpha1.AnnouncementHeld || director {
			out = append(out, s.State+" "+s.Name)
		}
	}
	if d := st.Status.Director; director && d != nil {
		out = append(out, fmt.Sprintf("director ready=%v tunnel=%s", d.Ready, d.TunnelAddress))
	}
	return out
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
