// Package testpoll is the one way tests wait for something: they poll a
// condition until it holds or a deadline passes, never sleep for a guessed
// time. It is for tests only.
package testpoll

import (
	"testing"
	"time"
)

// interval is how long Until waits between two checks: short enough not to
// slow a test down, long enough not to load the API server or the lab.
const interval = 50 * time.Millisecond

// Until calls check until it returns true, and fails the test if it has
// not by timeout. check returns what it saw, which the failure quotes
// together with what, the condition waited for.
func Until(t testing.TB, timeout time.Duration, what string, check func() (ok bool, seen string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, seen := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s; last seen: %s", timeout, what, seen)
		}
		<-tick.C
	}
}
