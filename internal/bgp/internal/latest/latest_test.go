package latest

import (
	"fmt"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/testpoll"
)

// receive takes one value from f or fails the test after a second.
func receive(t *testing.T, f *Feed[int]) int {
	t.Helper()
	select {
	case v, ok := <-f.C():
		if !ok {
			t.Fatal("channel closed, want a value")
		}
		return v
	case <-time.After(time.Second):
		t.Fatal("no value delivered within a second")
		return 0
	}
}

// waitPending waits until the goroutine holds a value it cannot deliver
// yet, so that later publications stay pending behind it.
func waitPending(t *testing.T, f *Feed[int], n int) {
	t.Helper()
	testpoll.Until(t, 10*time.Second, fmt.Sprintf("%d keys pending", n), func() (bool, string) {
		f.mu.Lock()
		got := len(f.order)
		f.mu.Unlock()
		return got == n, fmt.Sprintf("%d pending", got)
	})
}

func TestFeed(t *testing.T) {
	t.Parallel()
	t.Run("a slow reader gets the latest value of each key, keys in first-pending order", func(t *testing.T) {
		f := New[int]()
		defer f.Close()
		f.Publish("a", 1)
		// The goroutine takes a=1 and blocks sending it; what follows
		// stays pending.
		waitPending(t, f, 0)
		f.Publish("b", 10)
		f.Publish("a", 2)
		f.Publish("b", 11)
		f.Publish("a", 3)
		waitPending(t, f, 2)
		var got []int
		for range 3 {
			got = append(got, receive(t, f))
		}
		want := []int{1, 11, 3}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("close closes the channel and later publications are dropped", func(t *testing.T) {
		f := New[int]()
		f.Publish("a", 1)
		f.Close()
		f.Close()
		f.Publish("a", 2)
		deadline := time.After(time.Second)
		for {
			select {
			case _, ok := <-f.C():
				if !ok {
					return
				}
			case <-deadline:
				t.Fatal("channel not closed after Close")
			}
		}
	})
}
