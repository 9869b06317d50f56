package testenv

import (
	"context"
	"testing"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/config"
)

// Starter is what RunUntilCleanup runs: a controller-runtime manager, or
// anything else that runs until its context ends.
type Starter interface {
	Start(ctx context.Context) error
}

// RunUntilCleanup starts s in the background and, when the test ends,
// stops it and fails the test if it returned an error.
func RunUntilCleanup(t testing.TB, what string, s Starter) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", what, err)
		}
	})
}

// SeveralInProcess is controller-runtime's setting for the controllers of
// a manager that runs next to others in one test process, which a test
// passes as the Controllers option of the controller or the speaker:
// controller-runtime refuses a second controller of the same name in a
// process unless told to skip that check. A production process runs one
// manager and keeps the check.
func SeveralInProcess() config.Controller {
	return config.Controller{SkipNameValidation: ptr.To(true)}
}
