package lab

import (
	"net/netip"
	"slices"
	"sync"
	"time"
)

// NextHopChange is one change of a route's kernel next hops at the router.
type NextHopChange struct {
	At   time.Time
	Hops []string
}

// NextHopWatch polls the router's kernel next hops of one prefix and
// records every change, so a test can say that they never changed during
// an event, not just that they are right before and after it.
type NextHopWatch struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu      sync.Mutex
	initial []string
	changes []NextHopChange
	polls   int
	errs    int
}

// WatchNextHops starts polling prefix every interval.
func (l *Lab) WatchNextHops(prefix netip.Prefix, every time.Duration) *NextHopWatch {
	w := &NextHopWatch{stop: make(chan struct{}), done: make(chan struct{})}
	first, err := l.Router.KernelNextHops(prefix)
	w.initial = first
	if err != nil {
		w.errs++
	}
	go func() {
		defer close(w.done)
		last := first
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
			hops, err := l.Router.KernelNextHops(prefix)
			w.mu.Lock()
			w.polls++
			if err != nil {
				w.errs++
			} else if !slices.Equal(hops, last) {
				w.changes = append(w.changes, NextHopChange{At: time.Now(), Hops: hops})
				last = hops
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// NextHopHistory is what a NextHopWatch saw.
type NextHopHistory struct {
	Initial []string
	Changes []NextHopChange
	// Polls counts the polls after the first; Errors the failed ones.
	Polls, Errors int
}

// Stop ends the watch and returns what it saw. It may be called more
// than once.
func (w *NextHopWatch) Stop() NextHopHistory {
	w.once.Do(func() { close(w.stop) })
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return NextHopHistory{Initial: w.initial, Changes: slices.Clone(w.changes), Polls: w.polls, Errors: w.errs}
}
