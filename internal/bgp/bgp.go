// Package bgp defines the BGP engine that the speaker drives, in net/netip
// terms, so that the speaker never sees the BGP library behind it. The only
// implementation for production is in internal/bgp/gobgp; Fake serves unit
// tests.
package bgp

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// Peer is one BGP session to open and keep.
type Peer struct {
	// Name identifies the peer (the BGPPeer object's name).
	Name            string
	Address         netip.Addr
	Port            uint16 // 0 means 179
	LocalASN        uint32
	PeerASN         uint32
	RouterID        netip.Addr // IPv4; required
	SourceAddress   netip.Addr // zero: chosen by the kernel
	HoldTime        time.Duration
	KeepaliveTime   time.Duration
	ConnectRetry    time.Duration
	EBGPMultihopTTL uint8 // 0: directly connected
	// Password is the TCP-MD5 key. It must never appear in logs, errors
	// or status.
	Password        string
	GracefulRestart GracefulRestart
	// BFD, if set, runs a BFD session (RFC 5880/5881) next to the BGP
	// session; when it goes down, the BGP session is closed at once
	// instead of after the hold time.
	BFD *BFD
	// NextHopIPv4 and NextHopIPv6 are this node's addresses used as next
	// hop for paths of each family; a family whose next hop is zero is not
	// negotiated.
	NextHopIPv4 netip.Addr
	NextHopIPv6 netip.Addr
}

// GracefulRestart configures RFC 4724 graceful restart for one peer.
type GracefulRestart struct {
	Enabled     bool
	RestartTime time.Duration
}

// Equal reports whether p and q describe the same session settings.
func (p Peer) Equal(q Peer) bool {
	pb, qb := p.BFD, q.BFD
	p.BFD, q.BFD = nil, nil
	return p == q && pb.Equal(qb)
}

// EqualButBFD reports whether p and q differ in their BFD settings at
// most. Engines change BFD settings without resetting the BGP session.
func (p Peer) EqualButBFD(q Peer) bool {
	p.BFD, q.BFD = nil, nil
	return p == q
}

// Equal reports whether b and o ask for the same BFD session; nil (no
// BFD) equals only nil.
func (b *BFD) Equal(o *BFD) bool {
	if b == nil || o == nil {
		return b == o
	}
	return *b == *o
}

// BFD holds the timers of one BFD session.
type BFD struct {
	// ReceiveInterval is the slowest rate at which this side wants to
	// receive packets, TransmitInterval the rate at which it sends them.
	ReceiveInterval  time.Duration
	TransmitInterval time.Duration
	// DetectMultiplier is how many intervals without a packet bring the
	// session down.
	DetectMultiplier uint8
}

// Path is one prefix announced to one peer with its attributes. The next
// hop comes from the Peer, per family.
type Path struct {
	Prefix           netip.Prefix
	Communities      []uint32 // standard communities, as ASN<<16 | value
	LargeCommunities []LargeCommunity
	LocalPref        *uint32
	MED              *uint32
	ASPathPrepend    []uint32
	// Weight, if not zero, is sent as the BGP link-bandwidth extended
	// community, so that a router doing weighted ECMP gives this node a
	// share of the traffic proportional to it.
	Weight uint32
}

// LargeCommunity is an RFC 8092 community.
type LargeCommunity struct{ Global, Local1, Local2 uint32 }

// SessionState is the BGP finite state machine state of a session.
type SessionState string

// The states of RFC 4271.
const (
	StateIdle        SessionState = "Idle"
	StateConnect     SessionState = "Connect"
	StateActive      SessionState = "Active"
	StateOpenSent    SessionState = "OpenSent"
	StateOpenConfirm SessionState = "OpenConfirm"
	StateEstablished SessionState = "Established"
)

// Session describes one peer's session.
type Session struct {
	Peer  string
	State SessionState
	// Since is when the session entered State.
	Since time.Time
	// LastError says why the session last went down or failed to come
	// up, if it did; it never contains the password. A NOTIFICATION sent
	// or received is named in words with its code and subcode, such as
	// "sent NOTIFICATION: OPEN message error, bad peer AS (code 2,
	// subcode 2)", also when it leaves the session in the same state, as
	// the answer to a router's OPEN with an unexpected AS does.
	LastError string
	// Announced is how many prefixes are announced to the peer.
	Announced int
	// GracefulRestart tells whether graceful restart was negotiated on
	// the Established session: both sides offered it. A peer configured
	// for graceful restart whose router does not offer it loses this
	// node's routes on every speaker restart.
	GracefulRestart bool
	// BFD is the state of the BFD session that watches the peer: "" for a
	// peer without BFD, otherwise Up, Down, Init or AdminDown. A peer whose
	// BFD waits for the BGP session, or could not start, is Down.
	BFD string
}

// BFD session states as Session.BFD reports them.
const (
	BFDUp        = "Up"
	BFDDown      = "Down"
	BFDInit      = "Init"
	BFDAdminDown = "AdminDown"
)

// ReconcilePeersRequest lists every peer that should have a session.
type ReconcilePeersRequest struct {
	Peers []Peer
}

// ReconcilePathsRequest lists, per peer name, every path that should be
// announced to that peer. Peers absent from the map announce nothing.
type ReconcilePathsRequest struct {
	Paths map[string][]Path
}

// ReconcilePathsResponse reports what is announced after the call, also
// when the call failed part-way.
type ReconcilePathsResponse struct {
	Announced map[string][]Path
}

// StopRequest says how to end every session.
type StopRequest struct {
	// KeepRoutes ends sessions that carry paths without a Cease
	// NOTIFICATION, so that peers with graceful restart keep this node's
	// routes until it is back. Sessions that carry no path, and every
	// session without KeepRoutes, are closed with a Cease NOTIFICATION.
	KeepRoutes bool
}

// ErrStopped is what ReconcilePeers and ReconcilePaths return after Stop.
var ErrStopped = errors.New("bgp engine is stopped")

// Engine is a BGP speaker with one session per peer and a separate set of
// paths per peer. Implementations are safe for concurrent use.
type Engine interface {
	// ReconcilePeers opens sessions to new peers, closes sessions to peers
	// no longer listed (withdrawing their paths), and resets only peers
	// whose settings changed. Unchanged peers are not touched. A new peer's
	// session may wait for the next ReconcilePaths that lists the peer
	// (even with no paths), so that it opens with the peer's full table: a router keeping this node's routes through a
	// graceful restart drops those missing when the first table ends.
	ReconcilePeers(ctx context.Context, req ReconcilePeersRequest) error
	// ReconcilePaths makes each peer's announced paths equal to the request:
	// it withdraws what is no longer wanted, then advertises what is new or
	// changed, and sends nothing for unchanged paths.
	ReconcilePaths(ctx context.Context, req ReconcilePathsRequest) (ReconcilePathsResponse, error)
	// Sessions reports every peer's session.
	Sessions(ctx context.Context) ([]Session, error)
	// SessionChanges delivers a Session each time a session changes state.
	// The channel is closed by Stop. Slow readers miss intermediate states,
	// never the latest one.
	SessionChanges() <-chan Session
	// Stop ends every session as the request says and releases everything.
	Stop(ctx context.Context, req StopRequest) error
}
