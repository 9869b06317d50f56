package speaker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bgplb/bgplb/internal/bgp"
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
type drainTracker struct {
	mu     sync.Mutex
	since  time.Time
	status drainStatus
}

// observe records whether the node drains now and returns since when.
func (d *drainTracker) observe(draining bool, now time.Time) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case !draining:
		d.since = time.Time{}
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
func shutdown(ctx context.Context, engine bgp.Engine, st drainStatus, logger *slog.Logger) error {
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
	_, werr := engine.ReconcilePaths(wctx, bgp.ReconcilePathsRequest{})
	if err := engine.Stop(wctx, bgp.StopRequest{}); err != nil {
		return fmt.Errorf("stop BGP sessions: %w", err)
	}
	if werr != nil {
		return fmt.Errorf("withdraw paths of a drained node: %w", werr)
	}
	return nil
}
