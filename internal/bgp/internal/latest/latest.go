// Package latest delivers values to a channel so that a slow reader misses
// intermediate values but never the latest value of any key. The bgp
// engines use it for session changes: a reader that falls behind still
// learns each peer's current state.
package latest

import "sync"

// Feed holds at most one undelivered value per key and hands the values to
// its channel in the order in which their keys first became pending.
//
// A Feed must be created with New. Its methods are safe for concurrent use.
type Feed[T any] struct {
	out  chan T
	wake chan struct{}
	done chan struct{}
	// finished is closed when the delivering goroutine has returned, so
	// that Close can promise that nothing is sent afterwards.
	finished  chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	closed  bool
	pending map[string]T
	order   []string // keys in pending, oldest first
}

// New returns a Feed and starts the goroutine that delivers its values;
// Close stops it.
func New[T any]() *Feed[T] {
	f := &Feed[T]{
		out:      make(chan T),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		finished: make(chan struct{}),
		pending:  make(map[string]T),
	}
	go f.run()
	return f
}

// C returns the channel on which values are delivered. It is closed by
// Close.
func (f *Feed[T]) C() <-chan T { return f.out }

// Publish makes v the value to deliver for key, replacing a value for the
// same key that the reader has not taken yet. After Close it does nothing.
func (f *Feed[T]) Publish(key string, v T) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	if _, ok := f.pending[key]; !ok {
		f.order = append(f.order, key)
	}
	f.pending[key] = v
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Close drops undelivered values, stops delivery and closes the channel.
// It may be called more than once.
func (f *Feed[T]) Close() {
	f.closeOnce.Do(func() {
		f.mu.Lock()
		f.closed = true
		f.pending = nil
		f.order = nil
		f.mu.Unlock()
		close(f.done)
	})
	<-f.finished
}

func (f *Feed[T]) run() {
	defer close(f.finished)
	defer close(f.out)
	for {
		v, ok := f.next()
		if !ok {
			select {
			case <-f.wake:
				continue
			case <-f.done:
				return
			}
		}
		select {
		case f.out <- v:
		case <-f.done:
			return
		}
	}
}

// next takes the oldest pending value.
func (f *Feed[T]) next() (T, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var zero T
	if len(f.order) == 0 {
		return zero, false
	}
	key := f.order[0]
	f.order = f.order[1:]
	v := f.pending[key]
	delete(f.pending, key)
	return v, true
}
