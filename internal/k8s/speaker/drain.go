package speaker

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// drainStatus is what the node's drain looks like after the last
// recompute.
type drainStatus struct {
	// draining is set while the node has a drain trigger.
	draining bool
	// until is when the last peer's drain time ends.
	until time.Time
}

// drainTracker remembers when the node's current drain started. The time
// lives in memory only: a speaker restarted during a drain starts the
// drain time again, which errs on the side of announcing longer.
//
// A node that is already draining when the speaker starts counts as
// drained: the speaker before this one finished the drain before it
// exited, and a node that stays excluded for good (control-plane nodes
// often carry the exclusion label) must not announce for a drain time
// after every speaker restart.
type drainTracker struct {
	mu       sync.Mutex
	observed bool
	since    time.Time
	status   drainStatus
}

// drainedLongAgo is the drain start of a node found draining at start-up.
var drainedLongAgo = time.Unix(1, 0)

// observe records whether the node drains now and returns since when.
func (d *drainTracker) observe(draining bool, now time.Time) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	first := !d.observed
	d.observed = true
	switch {
	case !draining:
		d.since = time.Time{}
	case first:
		d.since = drainedLongAgo
	case d.since.IsZero():
		d.since = now
	}
	return d.since
}

func (d *drainTracker) set(s drainStatus) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status = s
}

func (d *drainTracker) get() drainStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status
}

// shutdown ends the engine's sessions when the speaker exits. A node that
// is not draining is taken to be restarting: sessions with graceful
// restart end without a NOTIFICATION so that routers keep its routes. A
// draining node waits for its drain time to end, withdraws every path and
// closes its sessions with a Cease, so that nothing stays announced for a
// node that is going away.
//
// leaving says, from a fresh read of the Node at shutdown, whether the
// node is going away without a drain (deleted, or marked for removal);
// its routes are withdrawn at once rather than kept for a restart that
// will not come.
func shutdown(ctx context.Context, engine bgp.Engine, st drainStatus, leaving string, logger *slog.Logger) error {
	if leaving != "" && !st.draining {
		logger.Info("node is going away: withdrawing instead of keeping routes for a restart", "reason", leaving)
		st = drainStatus{draining: true}
	}
	if !st.draining {
		if err := engine.Stop(ctx, bgp.StopRequest{KeepRoutes: true}); err != nil {
			return fmt.Errorf("stop BGP sessions: %w", err)
		}
		return nil
	}
	if wait := time.Until(st.until); wait > 0 {
		logger.Info("node is draining: finishing the drain before exiting", "remaining", wait.Round(time.Millisecond).String())
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			logger.Warn("shutdown grace period ended before the drain time; withdrawing now")
		}
	}
	// The withdrawal gets its own short deadline: it must go out even when
	// the grace period is over.
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, werr := engine.ReconcilePaths(wctx, bgp.ReconcilePathsRequest{Paths: map[string][]bgp.Path{}})
	if err := engine.Stop(wctx, bgp.StopRequest{}); err != nil {
		return fmt.Errorf("stop BGP sessions: %w", err)
	}
	if werr != nil {
		return fmt.Errorf("withdraw paths of a drained node: %w", werr)
	}
	return nil
}

// Taints that mark a node for removal.
const (
	taintAutoscalerDelete = "ToBeDeletedByClusterAutoscaler"
	taintOutOfService     = "node.kubernetes.io/out-of-service"
)

// leaving reads the Node afresh and says why it is going away, or "" if it
// looks like it stays (or cannot be read: a restart is the common case).
// A drain requested just before the stop, which the last recompute did not
// see, counts too.
func leaving(ctx context.Context, reader client.Reader, nodeName string) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var n corev1.Node
	err := reader.Get(ctx, client.ObjectKey{Name: nodeName}, &n)
	switch {
	case apierrors.IsNotFound(err):
		return "the Node object is deleted"
	case err != nil:
		return ""
	}
	for _, t := range n.Spec.Taints {
		switch t.Key {
		case taintAutoscalerDelete:
			return "the cluster autoscaler is removing the node"
		case taintOutOfService:
			return "the node is tainted out of service"
		}
	}
	if _, drain := translate.Node(&n); drain.Reason() != "" {
		return "a drain was requested as the speaker stopped"
	}
	return ""
}

// nodeDrain is what drains the node and when, as of the last recompute:
// the node's status shows it, and drain events report its changes.
type nodeDrain struct {
	// reason is one of v1alpha1.DrainReason*, or "" while nothing drains
	// the node.
	reason string
	// cordonAdverts names the advertisements that drain on cordon, when a
	// cordon is the reason.
	cordonAdverts []string
	// since is when the drain started: drainedLongAgo for a drain found
	// at start-up.
	since time.Time
	// until is when the drain time of the node's last peer ends; zero
	// without a peer.
	until time.Time
}

// over tells whether the drain's paths are withdrawn at now.
func (d nodeDrain) over(now time.Time) bool {
	return d.reason != "" && !now.Before(d.until)
}

// status is how the node's status object shows the drain. A drain found
// at start-up has no known start, so it shows neither start nor end.
func (d nodeDrain) status() *v1alpha1.NodeDrain {
	if d.reason == "" {
		return nil
	}
	st := &v1alpha1.NodeDrain{Reason: d.reason}
	if d.since.Equal(drainedLongAgo) {
		return st
	}
	since := metav1.NewTime(d.since.Truncate(time.Second))
	st.Since = &since
	if !d.until.IsZero() {
		until := metav1.NewTime(d.until.Truncate(time.Second))
		st.Until = &until
	}
	return st
}

// cause names what asks for the drain, for event messages.
func (d nodeDrain) cause() string {
	switch d.reason {
	case v1alpha1.DrainReasonAnnotation:
		return "the " + v1alpha1.AnnotationDrain + " annotation"
	case v1alpha1.DrainReasonExcludeLabel:
		return "the " + announce.ExcludeLabel + " label"
	default:
		kind := "BGPAdvertisement"
		if len(d.cordonAdverts) > 1 {
			kind += "s"
		}
		return fmt.Sprintf("the cordon (drainOnCordon in %s %s)", kind, strings.Join(d.cordonAdverts, ", "))
	}
}

// Event reasons the speaker writes on its Node.
const (
	EventDrainStarted   = "DrainStarted"
	EventDrainFinished  = "DrainFinished"
	EventDrainCancelled = "DrainCancelled"
)

// drainEvents reports on the Node when its drain starts, when its paths
// are withdrawn at the end of the drain time, and when the drain is called
// off before that: one event per change, however often the speaker
// recomputes in between.
type drainEvents struct {
	recorder events.EventRecorder
	// seen is false until the first recompute: a drain found then started
	// before this speaker, which reports nothing about it.
	seen bool
	// last is the drain of the previous recompute, and ended says whether
	// its end was reported (or, for a drain found at start-up, needs no
	// report).
	last  nodeDrain
	ended bool
}

// report compares the node's drain with the previous recompute's and
// writes an event for each change.
func (e *drainEvents) report(node *corev1.Node, cur nodeDrain, now time.Time) {
	switch {
	case !e.seen:
		// A drain found at start-up began before this speaker, which
		// counts it as over.
		e.ended = cur.reason != ""
	case cur.reason == "":
		if e.last.reason != "" && !e.ended {
			e.event(node, EventDrainCancelled, "node %s stopped draining before its drain time ended, as %s no longer asks for it: %s are announced as usual again",
				node.Name, e.last.cause(), e.last.paths())
		}
		e.ended = false
	default:
		if e.last.reason == "" {
			e.event(node, EventDrainStarted, "node %s drains, asked by %s: %s", node.Name, cur.cause(), withdrawal(cur))
			e.ended = false
		}
		// The end is reported once: a peer that comes up after it moves
		// the drain's end, but does not make the node drain again.
		if !e.ended && cur.over(now) {
			e.event(node, EventDrainFinished, "node %s has drained, asked by %s: %s are withdrawn", node.Name, cur.cause(), cur.paths())
			e.ended = true
		}
	}
	e.seen, e.last = true, cur
}

// withdrawal says how long the paths of a drain that starts stay
// announced.
func withdrawal(d nodeDrain) string {
	if d.until.IsZero() {
		return "it has no BGP session, so there is nothing to withdraw"
	}
	return fmt.Sprintf("%s carry the graceful-shutdown community for the drain time of %s, until %s, and are withdrawn then",
		d.paths(), d.until.Sub(d.since).Round(time.Second), d.until.UTC().Format(time.RFC3339))
}

// paths names the paths a drain takes out, for event messages: all of the
// node's, or for a cordon only those of the advertisements that drain on
// cordon, which cause names.
func (d nodeDrain) paths() string {
	if d.reason == v1alpha1.DrainReasonCordon {
		return "the paths of those advertisements"
	}
	return "its paths"
}

func (e *drainEvents) event(node *corev1.Node, reason, note string, args ...any) {
	if e.recorder != nil {
		e.recorder.Eventf(node, nil, corev1.EventTypeNormal, reason, "Drain", note, args...)
	}
}
