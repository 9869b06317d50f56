package announce

import (
	"net/netip"
	"time"

	"github.com/bgplb/bgplb/internal/bgp"
)

// ExcludeLabel on a node, with any value, asks for the node to be taken out
// of external load balancers; Kubernetes defines it for exactly this
// purpose. Compute does not read it: the caller drains a node that carries
// it by setting Node.Drain.
const ExcludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

// LabelMatcher lets the caller plug in Kubernetes label selectors without
// this package importing Kubernetes.
type LabelMatcher interface {
	Matches(labels map[string]string) bool
}

// Node is the node the speaker runs on.
type Node struct {
	Name   string
	Labels map[string]string
	// NetworkUnavailable is the node condition NetworkUnavailable=True. Such
	// a node cannot forward, so it announces nothing at once instead of
	// draining.
	NetworkUnavailable bool
	// Drain drains every path of the node: they are announced with the
	// graceful-shutdown community for each peer's drain time, then
	// withdrawn. The caller decides; the speaker sets it when the node
	// carries ExcludeLabel or the drain annotation.
	Drain bool
	// Cordoned is spec.unschedulable. It drains the paths of the
	// advertisements with DrainOnCordon only.
	Cordoned bool
	// DrainSince is when the caller first saw the node's current drain
	// trigger (Drain or Cordoned); zero when the node is not draining.
	// Every draining path is withdrawn at DrainSince plus the peer's drain
	// time, so a path that starts draining later, such as one of an
	// advertisement given DrainOnCordon on a node cordoned long before,
	// gets only what is left of it. A zero DrainSince while draining means
	// the drain starts at Input.Now, so the caller must remember the time
	// it passes to have the drain end.
	DrainSince time.Time
}

// Endpoint is one endpoint of a Service, from its EndpointSlices.
type Endpoint struct {
	// Node is the name of the node the endpoint runs on.
	Node string
	// Ready, Serving and Terminating are the endpoint's conditions. Ready
	// is taken as given (a Service that publishes not-ready addresses has
	// every endpoint ready); Serving is consulted only while no endpoint of
	// the Service is ready; Terminating is not consulted.
	Ready, Serving, Terminating bool
}

// Service is what the announce rules need to know about one LoadBalancer
// Service.
type Service struct {
	Key    string // "namespace/name"
	Labels map[string]string
	// Addrs are the Service's addresses from status.loadBalancer.ingress.
	// IPv4-mapped IPv6 addresses count as IPv4, zones are ignored, and
	// invalid (zero) addresses are skipped.
	Addrs []netip.Addr
	// Pool is the pool the addresses came from, "" if unknown.
	Pool string
	// Local is externalTrafficPolicy: Local.
	Local     bool
	Endpoints []Endpoint
	// AnnouncedElsewhere says that another node announces the Service, so
	// that this node starting to announce it adds a next hop, which an
	// advertisement's AdditionHold may hold back. A Service nobody
	// announces is never held.
	AnnouncedElsewhere bool
	// ReleasedAt releases additions of the Service held since before it
	// (the operator's release annotation); zero releases nothing.
	ReleasedAt time.Time
}

// Pool is an address pool as far as pool selectors care.
type Pool struct {
	Name   string
	Labels map[string]string
}

// Advertisement says which Service addresses are announced to which peers
// with which attributes.
type Advertisement struct {
	Name string
	// Pools and PoolSelectors select the pools whose addresses are
	// announced: a pool listed by name or whose labels match any selector.
	// If both are empty, every pool is selected, and so are Services whose
	// pool is unknown. A pool missing from Input.Pools can only be selected
	// by name.
	Pools         []string
	PoolSelectors []LabelMatcher
	// ServiceSelectors, if non-empty, requires the Service's labels to
	// match at least one of them.
	ServiceSelectors []LabelMatcher
	// NodeSelectors, if non-empty, requires this node's labels to match at
	// least one of them.
	NodeSelectors []LabelMatcher
	// Peers names the peers to announce to; empty means every peer this
	// node has a session with. Names of peers without a session here are
	// ignored.
	Peers []string
	// AggregationLength is the length of the announced IPv4 prefix, 0 to
	// 32; nil means 32.
	AggregationLength *int
	// AggregationLengthV6 is the length of the announced IPv6 prefix, 0 to
	// 128; nil means 128.
	AggregationLengthV6 *int
	// LocalPref is sent to iBGP peers only.
	LocalPref *uint32
	MED       *uint32
	// Communities are standard or large communities in the forms that
	// ParseCommunity accepts.
	Communities   []string
	ASPathPrepend *Prepend
	// DrainOnCordon drains the paths this advertisement contributes to
	// while the node is cordoned (Node.Cordoned).
	DrainOnCordon bool
	// WeightByEndpoints gives the paths of Local Services a Weight: the
	// node's ready endpoints of the Services behind the prefix.
	WeightByEndpoints bool
	// AdditionHold, if set, holds back this node's announcing a Service
	// that other nodes announce already; see Hold.
	AdditionHold *Hold
}

// Prepend puts Count copies of ASN in front of the AS path.
type Prepend struct {
	// Count is 0 (no prepend) to 255.
	Count int
	// ASN 0 means the LocalASN of the peer the path is sent to.
	ASN uint32
}

// Peer is a BGP peer as far as the announce rules care.
type Peer struct {
	Name     string
	LocalASN uint32
	PeerASN  uint32
	// NodeSelectors, if non-empty, limits the session to nodes whose labels
	// match at least one of them.
	NodeSelectors []LabelMatcher
	// DrainTime is how long a draining path keeps being announced to this
	// peer, with the graceful-shutdown community, before it is withdrawn.
	// Zero or less withdraws it at once.
	DrainTime time.Duration
}

// IBGP reports whether the session is internal BGP, that is both sides
// are in the same AS.
func (p Peer) IBGP() bool { return p.LocalASN == p.PeerASN }

// Input is everything Compute looks at.
type Input struct {
	Node     Node
	Services []Service
	// Pools gives the labels for pool selectors. Only the first pool of a
	// name is looked at.
	Pools          []Pool
	Advertisements []Advertisement
	// Peers are all configured peers, including those this node has no
	// session with. Only the first peer of a name is looked at.
	Peers []Peer
	// Now is the time to compute for; it matters while the node drains
	// and for held additions. Compute never reads the clock itself.
	Now time.Time
	// Admitted lists the keys of the Services this node announces already
	// (the previous Result's Announced); they are never held back.
	Admitted map[string]bool
	// HeldSince gives, for the Services held at the previous Compute, since
	// when (the previous Result's Held), so that the hold time runs on.
	HeldSince map[string]time.Time
}

// Result is what this node announces.
type Result struct {
	// Sessions maps the name of every peer this node must have a session
	// with to the paths to announce to it, sorted by prefix, in the form
	// the BGP engine takes them. A peer with nothing to announce has an
	// empty, non-nil slice. The paths share no memory with the Input, and
	// no two paths share a slice element or a pointer target, so a caller
	// may change one without affecting others.
	//
	// Each path's prefix is masked; its communities and large communities
	// are sorted and free of duplicates; LocalPref is set toward iBGP
	// peers only, and is 0 on a draining path; Weight, if not zero, adds
	// up the node's ready endpoints of the Local Services behind the
	// prefix, from advertisements with WeightByEndpoints.
	Sessions map[string][]bgp.Path
	// DrainingPaths maps the name of every peer that is sent draining
	// paths to their prefixes, sorted. A draining path is announced, with
	// GracefulShutdown among its communities, until its drain time is
	// over. It is never nil.
	DrainingPaths map[string][]netip.Prefix
	// Errors maps the names of advertisements that contribute nothing,
	// because they are invalid or conflict with another, to the reason.
	// The errors wrap ErrInvalidAdvertisement or ErrConflict. It is never
	// nil.
	Errors map[string]error
	// Warnings maps the names of advertisements that work, but not fully
	// as written, to the reason: WeightByEndpoints selecting Cluster
	// Services, which are announced without weight. It is never nil.
	Warnings map[string]error
	// NextChange is the earliest time after Input.Now at which a draining
	// path's drain time ends or a held addition is due, so the caller
	// knows when to compute again; zero if there is none.
	NextChange time.Time
	// Announced lists, sorted, the keys of the Services whose addresses
	// this node announces to at least one peer.
	Announced []string
	// Draining lists, sorted, the Services of Announced whose paths all
	// drain: routers no longer choose this node for them.
	Draining []string
	// Held lists, sorted by Service, the Services this node would announce
	// but holds back.
	Held []Held
}
