package director

import (
	"context"
	"net/netip"
)

// Datapath forwards packets by a Plan. internal/datapath implements it in
// the kernel of a Linux node; NewFake keeps it in memory for tests of the
// code that drives it.
type Datapath interface {
	// Apply makes the datapath forward by req.Plan, as the node named
	// req.Self. On error it may have applied part of the plan; the next
	// Apply starts from whatever it holds.
	Apply(ctx context.Context, req ApplyRequest) error
	// Counters returns the packets the datapath has handled since it was
	// opened.
	Counters(ctx context.Context) (Counters, error)
	// Close stops forwarding and removes what the datapath set up.
	Close() error
	// Findings says what the datapath found on the node and changed
	// there, for the node's status.
	Findings() Findings
	// Leave stops driving the datapath but leaves it forwarding by the
	// last plan applied, for the next speaker of the node to take over
	// (a restart). A datapath nobody takes over stops forwarding by
	// itself after a while, so a speaker removed for good leaves nothing
	// that acts behind.
	Leave() error
}

// ApplyRequest is what Apply takes.
type ApplyRequest struct {
	Plan Plan
	// Self is this node's name: buckets whose primary it is are served
	// here.
	Self string
}

// Counters are a datapath's packet counts.
type Counters struct {
	// Forwarded counts the packets sent to each node, by node name, as
	// the bucket's primary (first hop).
	Forwarded map[string]uint64
	// SecondChances counts the packets sent to each node as a bucket's
	// secondary, because the primary knew no connection for them.
	SecondChances map[string]uint64
	// Local counts the packets this node kept: as a new connection, as one
	// it knew, or as a second chance it was given.
	Local uint64
	// NoOwner counts packets to an address whose bucket had no owner.
	NoOwner uint64
}

// Findings are what a datapath found on the node and what it changed
// there, in short sentences.
type Findings struct {
	Found, Changed []string
}

// Opener opens the datapath of a node whose tunnel address is given. It
// fails when the node cannot run one (an old kernel, no BTF); the error
// says why, and the node then serves without the director.
type Opener func(tunnel netip.Addr) (Datapath, error)

// Liveness tells which other nodes still answer, so that a node that died
// stops owning connections at once rather than when its status object is
// found stale. internal/nodeprobe implements it with ICMP echo, which a
// node's kernel answers whatever its speaker does.
type Liveness interface {
	// SetTargets replaces the nodes to watch, with their addresses.
	SetTargets(targets map[string]netip.Addr)
	// Unreachable returns the watched nodes that stopped answering.
	Unreachable() map[string]bool
	// Changes signals that Unreachable changed.
	Changes() <-chan struct{}
	// Run watches until ctx ends.
	Run(ctx context.Context) error
	// Err says why it does not watch, nil while it does.
	Err() error
}
