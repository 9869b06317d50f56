package director

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
)

// Fake is a Datapath that keeps the last applied plan in memory.
type Fake struct {
	mu       sync.Mutex
	applied  *ApplyRequest
	closed   bool
	left     bool
	counters Counters
	findings Findings
}

// NewFake returns an empty fake datapath.
func NewFake() *Fake { return &Fake{} }

// ErrClosed is returned by a closed datapath.
var ErrClosed = errors.New("datapath closed")

// Apply records req.
func (f *Fake) Apply(ctx context.Context, req ApplyRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	req.Plan.Tables = maps.Clone(req.Plan.Tables)
	req.Plan.Addresses = maps.Clone(req.Plan.Addresses)
	req.Plan.Tunnels = maps.Clone(req.Plan.Tunnels)
	f.applied = &req
	return nil
}

// Counters returns what SetCounters set last: the fake forwards no
// packet itself.
func (f *Fake) Counters(ctx context.Context) (Counters, error) {
	if err := ctx.Err(); err != nil {
		return Counters{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return Counters{}, ErrClosed
	}
	c := f.counters
	c.Forwarded, c.SecondChances = maps.Clone(c.Forwarded), maps.Clone(c.SecondChances)
	if c.Forwarded == nil {
		c.Forwarded = map[string]uint64{}
	}
	if c.SecondChances == nil {
		c.SecondChances = map[string]uint64{}
	}
	return c, nil
}

// Findings returns what SetFindings set last.
func (f *Fake) Findings() Findings {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Findings{Found: slices.Clone(f.findings.Found), Changed: slices.Clone(f.findings.Changed)}
}

// SetFindings sets what Findings returns.
func (f *Fake) SetFindings(findings Findings) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.findings = findings
}

// SetCounters sets what Counters returns, as if the datapath had counted
// those packets.
func (f *Fake) SetCounters(c Counters) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counters = c
}

// Close marks the fake closed.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// Leave marks the fake left: it refuses work, as after Close.
func (f *Fake) Leave() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed, f.left = true, true
	return nil
}

// Left says whether Leave was called.
func (f *Fake) Left() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.left
}

// Applied returns the last request applied, and false if there was none.
func (f *Fake) Applied() (ApplyRequest, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.applied == nil {
		return ApplyRequest{}, false
	}
	return *f.applied, true
}

// Closed says whether Close was called.
func (f *Fake) Closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}
