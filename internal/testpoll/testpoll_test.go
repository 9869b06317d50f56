package testpoll_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/testpoll"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	t.Parallel()
	calls := 0
	testpoll.Until(t, time.Minute, "the third call", func() (bool, string) {
		calls++
		return calls == 3, fmt.Sprint(calls)
	})
	if calls != 3 {
		t.Errorf("checked %d times, want 3", calls)
	}
}

// recorder stands for a test that Until fails.
type recorder struct {
	testing.TB
	failure string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatal(args ...any) {
	r.failure = fmt.Sprint(args...)
	panic(r)
}

func TestUntilFailsWithWhatItWaitedForAndLastSaw(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil && p != r {
				panic(p)
			}
		}()
		testpoll.Until(r, 120*time.Millisecond, "the sky to fall", func() (bool, string) { return false, "blue sky" })
	}()
	for _, want := range []string{"the sky to fall", "blue sky", "120ms"} {
		if !strings.Contains(r.failure, want) {
			t.Errorf("failure %q does not mention %q", r.failure, want)
		}
	}
}

func TestThroughoutFailsTheTestWhenTheWatchedConditionBreaks(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	calls := 0
	func() {
		defer func() {
			if p := recover(); p != nil && p != r {
				panic(p)
			}
		}()
		testpoll.Throughout(r, time.Hour, "the door stays shut", func() (bool, string) {
			calls++
			return calls < 2, "the door opened"
		})
	}()
	for _, want := range []string{"the door stays shut", "the door opened"} {
		if !strings.Contains(r.failure, want) {
			t.Errorf("failure %q does not mention %q", r.failure, want)
		}
	}
}
