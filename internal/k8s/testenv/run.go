package testenv

import (
	"context"
	"testing"
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
