// Package poll is the one loop with which bgplb's lab and tests wait for
// something: they check a condition again and again until it holds or a
// deadline passes, never sleep for a guessed time. Tests use it through
// internal/testpoll, which fails the test instead of returning an error.
package poll

import (
	"context"
	"fmt"
	"time"
)

// Interval is how long Until waits between two checks: short enough not
// to slow a wait down, long enough not to load the API server or the lab.
const Interval = 50 * time.Millisecond

// Condition checks once what a wait is for. It returns whether it holds
// and what it saw, which an error quotes; seen may be empty.
type Condition func() (ok bool, seen string)

// Until checks cond every Interval until it holds, and returns an error
// naming what, the condition waited for, and what cond saw last if it
// does not hold by timeout or ctx ends first.
func Until(ctx context.Context, timeout time.Duration, what string, cond Condition) error {
	return UntilEvery(ctx, Interval, timeout, what, cond)
}

// UntilEvery is Until checking every interval: a wait that measures how
// soon something happens checks more often than Interval.
func UntilEvery(ctx context.Context, interval, timeout time.Duration, what string, cond Condition) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, seen := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %s%s", timeout, what, lastSeen(seen))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w%s", what, context.Cause(ctx), lastSeen(seen))
		case <-tick.C:
		}
	}
}

// Throughout checks cond every Interval for duration and returns an error
// at the first check that fails: a bounded watch for something that must
// not happen. A watch that ctx cuts short is an error too, as it did not
// watch for the whole duration.
func Throughout(ctx context.Context, duration time.Duration, what string, cond Condition) error {
	start := time.Now()
	tick := time.NewTicker(Interval)
	defer tick.Stop()
	for {
		ok, seen := cond()
		if !ok {
			return fmt.Errorf("%s no longer held after %s of %s: %s", what, time.Since(start).Round(time.Millisecond), duration, seen)
		}
		if time.Since(start) >= duration {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("watching that %s: %w", what, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// Succeeds makes a Condition of a check that returns an error while what
// it waits for does not hold yet; the last error is what it saw.
func Succeeds(check func() error) Condition {
	return func() (bool, string) {
		if err := check(); err != nil {
			return false, err.Error()
		}
		return true, ""
	}
}

func lastSeen(seen string) string {
	if seen == "" {
		return ""
	}
	return "; last seen: " + seen
}
