// Package announce decides what one node announces to which BGP peer, with
// which path attributes.
//
// The package is pure: Compute takes plain Go values (the node, the
// LoadBalancer Services with their addresses and endpoints, the pools, the
// advertisements and the peers) and returns plain Go values, so every rule
// can be tested in a table without a Kubernetes API server or a BGP
// library. It deliberately imports nothing from Kubernetes or GoBGP; label
// selectors are plugged in through the LabelMatcher interface. The paths
// it returns are the engine's own bgp.Path values (internal/bgp holds
// only plain types), so the speaker translates Kubernetes objects into
// this package's types and hands the Result's paths to the BGP engine as
// they are.
//
// # Sessions
//
// The node has a session with every peer whose node selectors match it (no
// selectors match every node). A node whose network is unavailable keeps
// its sessions but announces nothing at once, so that its routes are
// withdrawn cleanly rather than dropped with the session; it cannot forward,
// so there is nothing to drain gracefully. A draining node (see Draining
// below) keeps its sessions too.
//
// # What is announced
//
// An advertisement announces a Service address from this node when the
// Service's pool is selected (by name or pool selector; a Service whose pool
// is unknown is selected only by an advertisement without pool filter), the
// Service matches a service selector (if any), and the node matches a node
// selector (if any). The address is announced to the peers the
// advertisement names that have a session, or to every session if it names
// none.
//
// Whether a Service is announced from this node at all depends on its
// endpoints. A Service with externalTrafficPolicy Local is announced only
// from nodes with a ready endpoint; a Cluster Service from every node, as
// long as some endpoint anywhere is ready. In both cases, while no endpoint
// anywhere is ready, serving endpoints (those still serving while they
// terminate) count instead, so a rolling update does not blackhole the
// address.
//
// The announced prefix is the address masked to the advertisement's
// aggregation length (32 and 128 unless set), so several addresses may
// collapse into one prefix; each prefix is announced once per peer.
//
// # Merging advertisements
//
// When several advertisements announce one prefix to one peer, their
// communities and large communities are united. LOCAL_PREF and MED must
// agree among the advertisements that set them; if they do not, every
// advertisement involved gets an error (wrapping ErrConflict) and is dropped
// from the whole result, not only from that prefix. Of several AS path
// prepends the longest wins, and among equally long ones the one with the
// lowest ASN. LOCAL_PREF is sent only to iBGP peers; toward eBGP peers it is
// left out, so advertisements disagreeing about it do not conflict there.
//
// # Draining
//
// A node is drained gracefully (RFC 8326) rather than withdrawn at once:
// its paths stay announced for a while with the GRACEFUL_SHUTDOWN community
// 65535:0 added, which makes routers prefer other next hops while this node
// still forwards, and are withdrawn afterwards. The BGP sessions stay up.
//
// A path toward a peer drains when Node.Drain is set (the caller sets it
// for ExcludeLabel or the drain annotation; Compute does not look at
// labels for this), or when the node is cordoned and at least one of the
// advertisements contributing the prefix to that peer has DrainOnCordon. A
// cordoned node without such advertisements announces as usual.
//
// A draining path is announced, with GracefulShutdown among its communities,
// listed in Result.DrainingPaths and, toward iBGP peers only, with
// LOCAL_PREF 0 in place of any configured LOCAL_PREF, while Input.Now is
// before Node.DrainSince plus the peer's DrainTime (a zero DrainSince counts
// as Now). From then on it is not announced. A DrainTime of zero or less
// withdraws at once. Result.NextChange tells the caller when the earliest
// drain time of a path still announced ends, so it can compute again then;
// Compute never reads the clock.
//
// # Weights
//
// An advertisement with WeightByEndpoints gives its paths a Weight, which
// the engine sends as the link-bandwidth extended community so that
// routers doing weighted ECMP share traffic by it. A path's weight adds up
// the node's ready endpoints (serving ones while none is ready anywhere)
// of every Local Service behind its prefix whose advertisement announces
// the path to that peer, each Service once. Paths reached by no weighted
// advertisement have no weight. Cluster Services are announced without
// weight, and Result.Warnings says so for the advertisement.
//
// # Determinism
//
// The Result depends only on the content of the Input, not on the order of
// its slices, except that of several peers or pools with one name the
// first is used. Paths are sorted by prefix (IPv4 before IPv6, then by address,
// then by length), and communities are sorted and free of duplicates.
package announce
