package poll_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/poll"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	t.Parallel()
	calls := 0
	err := poll.Until(context.Background(), time.Minute, "the third call", func() (bool, string) {
		calls++
		return calls == 3, fmt.Sprint(calls)
	})
	if err != nil || calls != 3 {
		t.Errorf("Until returned %v after %d checks, want nil after 3", err, calls)
	}
}

func TestUntilNamesWhatItWaitedForAndWhatItSawLast(t *testing.T) {
	t.Parallel()
	err := poll.Until(context.Background(), 120*time.Millisecond, "the sky to fall", func() (bool, string) { return false, "blue sky" })
	if err == nil {
		t.Fatal("Until returned nil for a condition that never held")
	}
	for _, want := range []string{"the sky to fall", "last seen: blue sky", "120ms"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestUntilStopsWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	why := errors.New("the lab is closing")
	ctx, cancel := context.WithCancelCause(context.Background())
	calls := 0
	err := poll.Until(ctx, time.Hour, "something", func() (bool, string) {
		calls++
		if calls == 2 {
			cancel(why)
		}
		return false, ""
	})
	if !errors.Is(err, why) {
		t.Errorf("Until returned %v, want the context's cause %v", err, why)
	}
	if calls != 2 {
		t.Errorf("checked %d times, want 2: no check after the context ended", calls)
	}
}

func TestUntilEveryChecksAtItsInterval(t *testing.T) {
	t.Parallel()
	var at []time.Time
	_ = poll.UntilEvery(context.Background(), 5*time.Millisecond, time.Minute, "ten checks", func() (bool, string) {
		at = append(at, time.Now())
		return len(at) == 10, ""
	})
	// At Interval, ten checks would take 450 ms.
	if took := at[9].Sub(at[0]); took >= poll.Interval*9 {
		t.Errorf("ten checks 5 ms apart took %s", took)
	}
}

func TestThroughoutFailsAtTheFirstCheckThatDoesNotHold(t *testing.T) {
	t.Parallel()
	calls := 0
	start := time.Now()
	err := poll.Throughout(context.Background(), time.Hour, "the light stays green", func() (bool, string) {
		calls++
		return calls < 3, fmt.Sprintf("check %d", calls)
	})
	if err == nil {
		t.Fatal("Throughout returned nil although the third check failed")
	}
	for _, want := range []string{"the light stays green", "check 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if took := time.Since(start); took > time.Minute {
		t.Errorf("Throughout watched on for %s after the condition failed", took)
	}
}

func TestThroughoutWatchesForTheWholeDuration(t *testing.T) {
	t.Parallel()
	calls := 0
	start := time.Now()
	err := poll.Throughout(context.Background(), 300*time.Millisecond, "all is well", func() (bool, string) {
		calls++
		return true, ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("Throughout returned after %s of a 300ms watch", took)
	}
	if calls < 2 {
		t.Errorf("checked %d times in 300ms", calls)
	}
}

func TestThroughoutCutShortByTheContextIsAnError(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := poll.Throughout(ctx, time.Hour, "all is well", func() (bool, string) { return true, "" })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Throughout returned %v, want the context's deadline", err)
	}
}

func TestSucceedsHoldsWhenTheCheckReturnsNoError(t *testing.T) {
	t.Parallel()
	if ok, seen := poll.Succeeds(func() error { return nil })(); !ok || seen != "" {
		t.Errorf("a check without error gives %v %q, want true and nothing seen", ok, seen)
	}
	if ok, seen := poll.Succeeds(func() error { return errors.New("no route") })(); ok || seen != "no route" {
		t.Errorf("a failing check gives %v %q, want false and its error", ok, seen)
	}
}
