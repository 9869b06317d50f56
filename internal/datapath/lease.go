//go:build linux

package datapath

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultLease is how long the program acts after its last renewal
// unless told otherwise: as long as BGP graceful restart's default
// restart time, during which the routers keep sending a restarting
// speaker's traffic to its node.
const DefaultLease = 2 * time.Minute

// RenewLease lets the program act for lease from now; past that it
// leaves every packet alone (counted as LeaseExpired). A freshly loaded
// program has no lease. A zero or negative lease ends the current one.
// RenewLease may run at the same time as the other methods, but not as
// Close.
func (d *Datapath) RenewLease(lease time.Duration) error {
	now, err := monotonicNow()
	if err != nil {
		return err
	}
	until := uint64(max(now+lease, 0))
	if err := d.objects.Lease.Put(uint32(0), until); err != nil {
		return fmt.Errorf("renew the director's lease for %s: %w", lease, err)
	}
	return nil
}

// monotonicNow reads CLOCK_MONOTONIC, the clock bpf_ktime_get_ns reads in
// the program.
func monotonicNow() (time.Duration, error) {
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		return 0, fmt.Errorf("read the monotonic clock: %w", err)
	}
	return time.Duration(now.Nano()), nil
}

// renewal renews a Datapath's lease, from Apply and from a goroutine of
// its own every lease/4, and remembers the last failure for Findings.
type renewal struct {
	datapath *Datapath
	lease    time.Duration
	done     chan struct{}
	stopped  sync.WaitGroup

	mu sync.Mutex
	// failure says why the last renewal failed; empty when it worked.
	failure string
}

// startRenewal renews d's lease every lease/4 until stop.
func startRenewal(d *Datapath, lease time.Duration) *renewal {
	r := &renewal{datapath: d, lease: lease, done: make(chan struct{})}
	r.stopped.Go(func() {
		ticker := time.NewTicker(lease / 4)
		defer ticker.Stop()
		for {
			select {
			case <-r.done:
				return
			case <-ticker.C:
				// A failure is kept for Findings; the next tick tries again.
				_ = r.renew()
			}
		}
	})
	return r
}

func (r *renewal) renew() error {
	err := r.datapath.RenewLease(r.lease)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failure = ""
	if err != nil {
		r.failure = fmt.Sprintf("%s: %v", time.Now().UTC().Format(time.RFC3339), err)
	}
	return err
}

// lastFailure says why the last renewal failed, "" if it worked.
func (r *renewal) lastFailure() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failure
}

// stop ends the renewals and waits until none runs. It may be called
// more than once.
func (r *renewal) stop() {
	select {
	case <-r.done:
	default:
		close(r.done)
	}
	r.stopped.Wait()
}
