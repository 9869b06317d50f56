package controller

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// conflictRetry is how soon a pass that failed only on write conflicts
// runs again: a conflict means the cache had not yet caught up with an
// object, which it does within milliseconds.
const conflictRetry = 100 * time.Millisecond

// maxConflictPasses is how many passes in a row may end on conflicts
// alone before the conflicts are returned as a failure: conflicts that do
// not clear mean that something else keeps writing the same objects, which
// an operator must hear about, and controller-runtime's back-off then
// spaces the passes out.
const maxConflictPasses = 20

// conflictStreak ends the passes of one reconciler. A pass whose only
// failures are write conflicts runs again after conflictRetry and says so
// at debug level: conflicts are routine when objects change in quick
// succession, as when a whole configuration is applied at once, and the
// next pass writes from the newer version. Any other failure, or
// conflicts in more than maxConflictPasses passes in a row, is returned,
// for controller-runtime to log as an error and retry with back-off.
type conflictStreak struct {
	passes atomic.Int32
}

// end ends a pass that failed with err (nil for success).
func (c *conflictStreak) end(logger *slog.Logger, err error) (reconcile.Result, error) {
	if err == nil || !onlyConflicts(err) {
		c.passes.Store(0)
		return reconcile.Result{}, err
	}
	if n := c.passes.Add(1); n > maxConflictPasses {
		c.passes.Store(0)
		return reconcile.Result{}, fmt.Errorf("%d passes in a row met write conflicts; is something else writing these objects? %w", n-1, err)
	}
	logger.Debug("a status write met a newer version of its object; computing again", "error", err)
	return reconcile.Result{RequeueAfter: conflictRetry}, nil
}

// onlyConflicts tells whether every error err joins is a conflict.
func onlyConflicts(err error) bool {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs := joined.Unwrap()
		for _, e := range errs {
			if !onlyConflicts(e) {
				return false
			}
		}
		return len(errs) > 0
	}
	if _, ok := err.(apierrors.APIStatus); ok {
		return apierrors.IsConflict(err)
	}
	if inner := errors.Unwrap(err); inner != nil {
		return onlyConflicts(inner)
	}
	return false
}
