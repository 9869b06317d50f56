// Package testpoll is the one way tests wait for something: they poll a
// condition until it holds or a deadline passes, never sleep for a guessed
// time. It is internal/poll for tests: a wait that fails fails the test.
package testpoll

import (
	"context"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/poll"
)

// Until calls check until it returns true, and fails the test if it has
// not by timeout. check returns what it saw, which the failure quotes
// together with what, the condition waited for.
func Until(t testing.TB, timeout time.Duration, what string, check func() (ok bool, seen string)) {
	t.Helper()
	// Not the test's context: a cleanup may wait too, after it has ended.
	if err := poll.Until(context.Background(), timeout, what, check); err != nil {
		t.Fatal(err)
	}
}

// Throughout calls check for duration and fails the test at the first
// call that returns false: a bounded watch for something that must not
// happen. Prefer waiting for a later event that proves it did not (see
// the tests that create a marker object); watch only where time itself
// is what the test is about, such as a timer that must not fire.
func Throughout(t testing.TB, duration time.Duration, what string, check func() (ok bool, seen string)) {
	t.Helper()
	if err := poll.Throughout(context.Background(), duration, what, check); err != nil {
		t.Fatal(err)
	}
}
