package controller

import (
	"errors"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// conflictRetry is how soon a pass that failed only on write conflicts
// runs again: a conflict means the cache had not yet caught up with an
// object, which it does within milliseconds.
const conflictRetry = 100 * time.Millisecond

// retryConflicts ends a pass that failed with err. A pass whose only
// failures are write conflicts runs again after conflictRetry and says so
// at debug level: conflicts are routine when objects change in quick
// succession, as when a whole configuration is applied at once, and the
// next pass writes from the newer version. Any other failure is returned,
// for controller-runtime to log as an error and retry with back-off.
func retryConflicts(logger *slog.Logger, err error) (reconcile.Result, error) {
	if err == nil || !onlyConflicts(err) {
		return reconcile.Result{}, err
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
