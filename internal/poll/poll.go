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
// The pause runs from the end of one check to the start of the next, so a
// slow check (a command, a list of thousands of objects) does not run
// back to back with itself.
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
	for {
		ok, seen := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %s%s", timeout, what, lastSeen(seen))
		}
		if err := pause(ctx, interval); err != nil {
			return fmt.Errorf("%s: %w%s", what, err, lastSeen(seen))
		}
	}
}

// Throughout checks cond every Interval for duration and returns an error
// at the first check that fails: a bounded watch for something that must
// not happen. A watch that ctx cuts short is an error too, as it did not
// watch for the whole duration.
func Throughout(ctx context.Context, duration time.Duration, what string, cond Condition) error {
	start := time.Now()
	for {
		ok, seen := cond()
		if !ok {
			return fmt.Errorf("%s no longer held after %s of %s: %s", what, time.Since(start).Round(time.Millisecond), duration, seen)
		}
		if time.Since(start) >= duration {
			return nil
		}
		if err := pause(ctx, Interval); err != nil {
			return fmt.Errorf("watching that %s: %w", what, err)
		}
	}
}

// pause waits for d, or returns why ctx ended first.
func pause(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-timer.C:
		return nil
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
