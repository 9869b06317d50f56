package announce

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// ExcludeLabel on a node, with any value, asks for the node to be taken out
// of external load balancers; Kubernetes defines it for exactly this
// purpose. Compute does not read it: the caller drains a node that carries
// it by setting Node.Drain.
const ExcludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

// maxPrependCount is the largest AS path prepend count accepted: one
// AS_SEQUENCE segment holds at most 255 ASNs.
const maxPrependCount = 255

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

// Path is one prefix announced to one peer with its attributes.
type Path struct {
	// Prefix is masked: its address has no bits set beyond its length.
	Prefix netip.Prefix
	// Communities and LargeCommunities are sorted and free of duplicates.
	Communities      []Community
	LargeCommunities []LargeCommunity
	// LocalPref is only ever set for iBGP peers; it is 0 on a draining
	// path.
	LocalPref *uint32
	MED       *uint32
	// ASPathPrepend lists the ASNs to put in front of the AS path; empty
	// if none.
	ASPathPrepend []uint32
	// Draining is set on a path of a draining node that is still announced
	// until its drain time is over. Its communities include
	// GracefulShutdown.
	Draining bool
	// Weight, if not zero, is the node's share of the prefix's traffic:
	// its ready endpoints of the Local Services behind the prefix, from
	// advertisements with WeightByEndpoints.
	Weight uint32
}

// Equal reports whether p and o announce the same prefix with the same
// attributes. Nil and empty slices are equal, and pointers are compared by
// the values they point to.
func (p Path) Equal(o Path) bool {
	return p.Prefix == o.Prefix &&
		slices.Equal(p.Communities, o.Communities) &&
		slices.Equal(p.LargeCommunities, o.LargeCommunities) &&
		equalPtr(p.LocalPref, o.LocalPref) &&
		equalPtr(p.MED, o.MED) &&
		slices.Equal(p.ASPathPrepend, o.ASPathPrepend) &&
		p.Draining == o.Draining && p.Weight == o.Weight
}

func equalPtr(a, b *uint32) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Result is what this node announces.
type Result struct {
	// Sessions maps the name of every peer this node must have a session
	// with to the paths to announce to it, sorted by prefix. A peer with
	// nothing to announce has an empty, non-nil slice. The paths share no
	// memory with the Input, and no two paths share a slice element or a
	// pointer target, so a caller may change one without affecting others.
	Sessions map[string][]Path
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

// Compute returns the sessions of in.Node and the paths to announce on
// each, following the rules in the package documentation.
func Compute(in Input) Result {
	res := Result{Sessions: map[string][]Path{}, Errors: map[string]error{}, Warnings: map[string]error{}}
	peers := sessionPeers(in)
	for _, p := range peers {
		res.Sessions[p.Name] = []Path{}
	}
	ads := validAdvertisements(in.Advertisements, res.Errors)
	if in.Node.NetworkUnavailable || len(peers) == 0 {
		return res
	}
	c := computation{peers: peers, pools: map[string]map[string]string{}, warnings: res.Warnings,
		clusterWeighted: map[string]unweightedServices{}}
	c.startDrain(in)
	for _, p := range in.Pools {
		if _, dup := c.pools[p.Name]; !dup {
			c.pools[p.Name] = p.Labels
		}
	}
	c.activate(ads, in.Node)
	if len(c.ads) == 0 {
		return res
	}
	c.collect(&in)
	c.warnUnweighted()
	c.findConflicts(res.Errors)
	c.build(res.Sessions)
	res.NextChange = c.nextChange
	res.Announced, res.Draining = c.announced(res.Sessions)
	sortHeld(c.heldServices)
	res.Held = c.heldServices
	return res
}

// sessionPeers returns the peers this node has a session with, sorted by
// name, using the first peer of each name.
func sessionPeers(in Input) []Peer {
	seen := make(map[string]bool, len(in.Peers))
	var peers []Peer
	for _, p := range in.Peers {
		if seen[p.Name] {
			continue
		}
		seen[p.Name] = true
		if matchesOptional(p.NodeSelectors, in.Node.Labels) {
			peers = append(peers, p)
		}
	}
	slices.SortFunc(peers, func(a, b Peer) int { return cmp.Compare(a.Name, b.Name) })
	return peers
}

// matchesOptional reports whether labels match any of matchers, or true
// if there are none.
func matchesOptional(matchers []LabelMatcher, labels map[string]string) bool {
	return len(matchers) == 0 || matchesAny(matchers, labels)
}

func matchesAny(matchers []LabelMatcher, labels map[string]string) bool {
	for _, m := range matchers {
		if m.Matches(labels) {
			return true
		}
	}
	return false
}

// advertisement is an Advertisement that passed validation, with its
// communities parsed and its lengths resolved.
type advertisement struct {
	*Advertisement
	communities []Community      // sorted, deduplicated
	large       []LargeCommunity // sorted, deduplicated
	len4, len6  int
	prepend     int // count; 0 if none
}

// validAdvertisements returns the advertisements that are valid on their
// own, sorted by name, and records an error for every other one. A name
// used more than once is an error for all advertisements of that name.
func validAdvertisements(in []Advertisement, errs map[string]error) []*advertisement {
	count := make(map[string]int, len(in))
	for i := range in {
		count[in[i].Name]++
	}
	var out []*advertisement
	for i := range in {
		ad := &in[i]
		if n := count[ad.Name]; n > 1 {
			errs[ad.Name] = errorOf(ErrInvalidAdvertisement, "%d advertisements are named %q; none of them is used", n, ad.Name)
			continue
		}
		v, err := validate(ad)
		if err != nil {
			errs[ad.Name] = err
			continue
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *advertisement) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// validate checks one advertisement on its own. Every problem found is
// listed in the error, separated by "; ".
func validate(ad *Advertisement) (*advertisement, error) {
	v := &advertisement{Advertisement: ad, len4: 32, len6: 128}
	var problems []string
	for _, s := range ad.Communities {
		std, large, err := ParseCommunity(s)
		switch {
		case err != nil:
			problems = append(problems, err.Error())
		case std != nil:
			v.communities = append(v.communities, *std)
		default:
			v.large = append(v.large, *large)
		}
	}
	slices.SortFunc(v.communities, compareCommunity)
	v.communities = slices.Compact(v.communities)
	slices.SortFunc(v.large, compareLargeCommunity)
	v.large = slices.Compact(v.large)
	if l := ad.AggregationLength; l != nil {
		if *l < 0 || *l > 32 {
			problems = append(problems, fmt.Sprintf("aggregationLength %d is out of range 0 to 32", *l))
		}
		v.len4 = *l
	}
	if l := ad.AggregationLengthV6; l != nil {
		if *l < 0 || *l > 128 {
			problems = append(problems, fmt.Sprintf("aggregationLengthV6 %d is out of range 0 to 128", *l))
		}
		v.len6 = *l
	}
	if p := ad.ASPathPrepend; p != nil {
		if p.Count < 0 || p.Count > maxPrependCount {
			problems = append(problems, fmt.Sprintf("asPathPrepend count %d is out of range 0 to %d", p.Count, maxPrependCount))
		}
		v.prepend = p.Count
	}
	if h := ad.AdditionHold; h != nil {
		if h.MinDelay < 0 {
			problems = append(problems, fmt.Sprintf("additionHold minDelay %s is negative", h.MinDelay))
		}
		for _, w := range h.Windows {
			if w.Location == nil || w.Start == w.End || w.Start < 0 || w.End < 0 || w.Start >= 24*time.Hour || w.End >= 24*time.Hour {
				problems = append(problems, fmt.Sprintf("additionHold window %s is invalid", w))
			}
		}
	}
	if len(problems) > 0 {
		return nil, errorOf(ErrInvalidAdvertisement, "%s", strings.Join(problems, "; "))
	}
	return v, nil
}

// computation holds the state of one Compute call past validation.
type computation struct {
	peers []Peer                       // sessions, sorted by name
	pools map[string]map[string]string // pool name to labels
	ads   []*active                    // apply to this node, sorted by name
	// groups lists every announced prefix once, sorted, with the
	// advertisements that announce it (to some peer).
	groups []group
	// drain is Node.Drain: every path drains. cordoned is Node.Cordoned:
	// the paths of advertisements with DrainOnCordon drain.
	drain, cordoned bool
	// drains is indexed like peers, and nil unless drain or cordoned.
	drains []peerDrain
	// nextChange is the earliest deadline of a draining path announced.
	nextChange time.Time
	// warnings is Result.Warnings; clusterWeighted collects, per weighted
	// advertisement, the Cluster Services it selects.
	warnings        map[string]error
	clusterWeighted map[string]unweightedServices
	// candidates lists the Services announced from this node and not held,
	// with their prefixes; heldServices those held back.
	candidates   []candidate
	heldServices []Held
}

// candidate is a Service whose addresses the node announces unless every
// path is dropped later (a conflict, a drain that is over).
type candidate struct {
	key      string
	prefixes []netip.Prefix
}

// peerDrain is the state of the node's drain toward one peer.
type peerDrain struct {
	// deadline is when draining paths are withdrawn: DrainSince plus the
	// peer's drain time.
	deadline time.Time
	// over is set once the deadline has passed: draining paths are not
	// announced.
	over bool
}

// startDrain works out, for every peer, whether the drain time of draining
// paths is over and when it will be.
func (c *computation) startDrain(in Input) {
	c.drain, c.cordoned = in.Node.Drain, in.Node.Cordoned
	if !c.drain && !c.cordoned {
		return
	}
	since := in.Node.DrainSince
	if since.IsZero() {
		since = in.Now
	}
	c.drains = make([]peerDrain, len(c.peers))
	for i, p := range c.peers {
		deadline := since.Add(p.DrainTime)
		c.drains[i] = peerDrain{deadline: deadline, over: p.DrainTime <= 0 || !in.Now.Before(deadline)}
	}
}

// group is one announced prefix and the advertisements announcing it.
type group struct {
	prefix netip.Prefix
	ads    []int // indices into computation.ads, ascending
	// weights lists, when some advertisement weighs by endpoints, each
	// Local Service behind the prefix with the advertisement announcing
	// it; a peer's path adds up those whose advertisement reaches it.
	weights []weighted
}

// weighted is one Local Service behind a prefix, announced by one
// advertisement, with the node's ready endpoints.
type weighted struct {
	prefix  netip.Prefix
	service int
	ad      int
	ready   uint32
}

// announcement is one advertisement announcing one prefix.
type announcement struct {
	prefix netip.Prefix
	ad     int
}

// active is a valid advertisement that applies to this node and reaches at
// least one peer.
type active struct {
	*advertisement
	toPeer []bool // indexed like computation.peers
	// poolSelected caches the pool decision per pool name.
	poolSelected map[string]bool
	// conflict is the first conflict found for the advertisement, and
	// conflicts how many there are in all.
	conflict  string
	conflicts int
}

// activate keeps the advertisements that select node and reach a session.
func (c *computation) activate(ads []*advertisement, node Node) {
	index := make(map[string]int, len(c.peers))
	for i, p := range c.peers {
		index[p.Name] = i
	}
	for _, ad := range ads {
		if !AppliesToNode(*ad.Advertisement, node.Labels) {
			continue
		}
		a := &active{advertisement: ad, toPeer: make([]bool, len(c.peers))}
		reaches := false
		if len(ad.Peers) == 0 {
			for i := range a.toPeer {
				a.toPeer[i] = true
			}
			reaches = true
		}
		for _, name := range ad.Peers {
			if i, ok := index[name]; ok {
				a.toPeer[i] = true
				reaches = true
			}
		}
		if reaches {
			c.ads = append(c.ads, a)
		}
	}
}

// selectsPool reports whether the advertisement announces addresses from
// the named pool.
func (c *computation) selectsPool(a *active, pool string) bool {
	if len(a.Pools) == 0 && len(a.PoolSelectors) == 0 {
		return true
	}
	if pool == "" {
		return false
	}
	if sel, ok := a.poolSelected[pool]; ok {
		return sel
	}
	sel := slices.Contains(a.Pools, pool)
	if labels, known := c.pools[pool]; !sel && known {
		sel = matchesAny(a.PoolSelectors, labels)
	}
	if a.poolSelected == nil {
		a.poolSelected = map[string]bool{}
	}
	a.poolSelected[pool] = sel
	return sel
}

// collect finds every prefix announced from node and the advertisements
// announcing it.
func (c *computation) collect(in *Input) {
	services, node := in.Services, in.Node.Name
	// Most addresses are announced by one advertisement, which makes the
	// number of addresses a good first capacity.
	n := 0
	for i := range services {
		n += len(services[i].Addrs)
	}
	found := make([]announcement, 0, n)
	var weights []weighted
	anyWeighted := false
	for _, a := range c.ads {
		anyWeighted = anyWeighted || a.WeightByEndpoints
	}
	var selecting []*active
	for i := range services {
		svc := &services[i]
		if len(svc.Addrs) == 0 || !announcedFrom(svc, node) {
			continue
		}
		selecting = selecting[:0]
		for _, a := range c.ads {
			if c.selectsPool(a, svc.Pool) && matchesOptional(a.ServiceSelectors, svc.Labels) {
				selecting = append(selecting, a)
			}
		}
		if len(selecting) == 0 || c.held(svc, selecting, in) {
			continue
		}
		first := len(found)
		for ai, a := range c.ads {
			if !slices.Contains(selecting, a) {
				continue
			}
			if a.WeightByEndpoints && !svc.Local {
				c.unweighted(a.Name, svc.Key)
			}
			for _, addr := range svc.Addrs {
				if prefix, ok := a.prefix(addr); ok {
					found = append(found, announcement{prefix, ai})
					if anyWeighted && svc.Local {
						weights = append(weights, weighted{prefix, i, ai, readyOn(svc, node)})
					}
				}
			}
		}
		cand := candidate{key: svc.Key}
		for _, f := range found[first:] {
			cand.prefixes = append(cand.prefixes, f.prefix)
		}
		c.candidates = append(c.candidates, cand)
	}
	// Sorting and removing duplicates puts the advertisements of each
	// prefix next to each other, in ascending order, without a map.
	slices.SortFunc(found, func(a, b announcement) int {
		if c := comparePrefix(a.prefix, b.prefix); c != 0 {
			return c
		}
		return cmp.Compare(a.ad, b.ad)
	})
	found = slices.Compact(found)
	ads := make([]int, len(found))
	for i, f := range found {
		ads[i] = f.ad
		if i == 0 || f.prefix != found[i-1].prefix {
			c.groups = append(c.groups, group{prefix: f.prefix})
		}
		g := &c.groups[len(c.groups)-1]
		g.ads = ads[i-len(g.ads) : i+1]
	}
	c.addWeights(weights)
}

// announced returns the keys of the candidates with a prefix announced to
// some peer, sorted.
// It also returns, sorted, those of them whose every announced path is
// draining.
func (c *computation) announced(sessions map[string][]Path) (announced, draining []string) {
	if len(c.candidates) == 0 {
		return nil, nil
	}
	// sent maps each announced prefix to whether some path of it is not
	// draining.
	sent := map[netip.Prefix]bool{}
	for _, paths := range sessions {
		for _, p := range paths {
			sent[p.Prefix] = sent[p.Prefix] || !p.Draining
		}
	}
	for _, cand := range c.candidates {
		found, live := false, false
		for _, p := range cand.prefixes {
			l, ok := sent[p]
			found, live = found || ok, live || l
		}
		if found {
			announced = append(announced, cand.key)
			if !live {
				draining = append(draining, cand.key)
			}
		}
	}
	slices.Sort(announced)
	slices.Sort(draining)
	return slices.Compact(announced), slices.Compact(draining)
}

// addWeights hands each group the Local Services behind its prefix,
// sorted by Service.
func (c *computation) addWeights(weights []weighted) {
	if len(weights) == 0 {
		return
	}
	slices.SortFunc(weights, func(a, b weighted) int {
		if c := comparePrefix(a.prefix, b.prefix); c != 0 {
			return c
		}
		if c := cmp.Compare(a.service, b.service); c != 0 {
			return c
		}
		return cmp.Compare(a.ad, b.ad)
	})
	gi := 0
	for start := 0; start < len(weights); {
		end := start + 1
		for end < len(weights) && weights[end].prefix == weights[start].prefix {
			end++
		}
		for gi < len(c.groups) && comparePrefix(c.groups[gi].prefix, weights[start].prefix) < 0 {
			gi++
		}
		if gi < len(c.groups) && c.groups[gi].prefix == weights[start].prefix {
			c.groups[gi].weights = weights[start:end]
		}
		start = end
	}
}

// weightFor adds up the ready endpoints of the Local Services of g whose
// advertisement is among those announcing the path, each Service once.
func weightFor(g group, use []*active, ads []*active) uint32 {
	var total uint32
	last := -1
	for _, w := range g.weights {
		if w.service == last || !slices.Contains(use, ads[w.ad]) {
			continue
		}
		total += w.ready
		last = w.service
	}
	return total
}

// unweighted records that a weighted advertisement selects a Cluster
// Service. The warning names the first such Service by key and counts
// them, so that it reads the same on every recompute.
func (c *computation) unweighted(ad, service string) {
	u := c.clusterWeighted[ad]
	if u.count == 0 || service < u.first {
		u.first = service
	}
	u.count++
	c.clusterWeighted[ad] = u
}

// unweightedServices is what unweighted collects for one advertisement.
type unweightedServices struct {
	first string
	count int
}

func (c *computation) warnUnweighted() {
	for ad, u := range c.clusterWeighted {
		c.warnings[ad] = fmt.Errorf("weightByEndpoints applies to externalTrafficPolicy: Local Services only; %d Cluster Service(s), such as %s, are announced without weight", u.count, u.first)
	}
}

// readyOn counts the Service's ready endpoints on node or, when the
// Service has no ready endpoint anywhere (the node then announces for its
// serving ones), its serving endpoints on node.
func readyOn(svc *Service, node string) uint32 {
	var ready, serving uint32
	anyReady := false
	for _, ep := range svc.Endpoints {
		anyReady = anyReady || ep.Ready
		if ep.Node != node {
			continue
		}
		if ep.Ready {
			ready++
		}
		if ep.Serving {
			serving++
		}
	}
	if anyReady {
		return ready
	}
	return serving
}

// announcedFrom reports whether the Service's endpoints allow announcing it
// from node: for a Local Service a ready endpoint on node, for a Cluster
// Service a ready endpoint anywhere. While no endpoint anywhere is ready,
// serving endpoints count instead.
func announcedFrom(svc *Service, node string) bool {
	var ready, serving, readyHere, servingHere bool
	for _, ep := range svc.Endpoints {
		here := node != "" && ep.Node == node
		if ep.Ready {
			ready = true
			readyHere = readyHere || here
		}
		if ep.Serving {
			serving = true
			servingHere = servingHere || here
		}
	}
	switch {
	case !svc.Local:
		return ready || serving
	case ready:
		return readyHere
	default:
		return servingHere
	}
}

// prefix returns the prefix the advertisement announces for addr, or false
// if addr is not a valid address.
func (a *advertisement) prefix(addr netip.Addr) (netip.Prefix, bool) {
	if !addr.IsValid() {
		return netip.Prefix{}, false
	}
	addr = addr.Unmap().WithZone("")
	bits := a.len6
	if addr.Is4() {
		bits = a.len4
	}
	p, err := addr.Prefix(bits)
	return p, err == nil
}

// comparePrefix orders prefixes IPv4 before IPv6, then by address, then by
// length.
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// findConflicts looks, for every prefix and peer, for advertisements that
// disagree about LOCAL_PREF (iBGP peers only) or MED, and records an error
// for each advertisement involved. The first conflict of an advertisement
// is the one of the lowest prefix, then peer name, then other
// advertisement's name.
func (c *computation) findConflicts(errs map[string]error) {
	for _, g := range c.groups {
		prefix, list := g.prefix, g.ads
		if len(list) < 2 {
			continue
		}
		for pi, peer := range c.peers {
			for x, i := range list {
				a := c.ads[i]
				if !a.toPeer[pi] {
					continue
				}
				for _, j := range list[x+1:] {
					b := c.ads[j]
					if !b.toPeer[pi] {
						continue
					}
					if peer.IBGP() {
						conflict(a, b, "localPref", a.LocalPref, b.LocalPref, prefix, peer.Name)
					}
					conflict(a, b, "med", a.MED, b.MED, prefix, peer.Name)
				}
			}
		}
	}
	for _, a := range c.ads {
		switch {
		case a.conflicts == 1:
			errs[a.Name] = errorOf(ErrConflict, "%s", a.conflict)
		case a.conflicts > 1:
			errs[a.Name] = errorOf(ErrConflict, "%s (and %d more)", a.conflict, a.conflicts-1)
		}
	}
}

// conflict records a conflict on both a and b if both set attr to
// different values.
func conflict(a, b *active, attr string, av, bv *uint32, prefix netip.Prefix, peer string) {
	if av == nil || bv == nil || *av == *bv {
		return
	}
	note := func(self, other *active, sv, ov uint32) {
		if self.conflicts == 0 {
			self.conflict = fmt.Sprintf("%s %d conflicts with %s %d of advertisement %q for %s toward peer %q",
				attr, sv, attr, ov, other.Name, prefix, peer)
		}
		self.conflicts++
	}
	note(a, b, *av, *bv)
	note(b, a, *bv, *av)
}

// build sets, for every peer, the merged path of each prefix announced to
// it by advertisements without conflict. Prefixes are visited in order, so
// each peer's paths end up sorted.
func (c *computation) build(sessions map[string][]Path) {
	// A first pass counts the paths per peer, so that each peer's slice is
	// allocated once and at its final size.
	counts := make([]int, len(c.peers))
	for _, g := range c.groups {
		for pi := range c.peers {
			if c.announces(g, pi) {
				counts[pi]++
			}
		}
	}
	paths := make([][]Path, len(c.peers))
	for pi, n := range counts {
		paths[pi] = make([]Path, 0, n)
	}
	var m merger
	for _, g := range c.groups {
		for pi, peer := range c.peers {
			m.use = m.use[:0]
			draining, weighted := c.drain, false
			for _, i := range g.ads {
				if a := c.ads[i]; a.toPeer[pi] && a.conflicts == 0 {
					m.use = append(m.use, a)
					draining = draining || (c.cordoned && a.DrainOnCordon)
					weighted = weighted || a.WeightByEndpoints
				}
			}
			if len(m.use) == 0 {
				continue
			}
			if draining {
				d := c.drains[pi]
				if d.over {
					continue
				}
				if c.nextChange.IsZero() || d.deadline.Before(c.nextChange) {
					c.nextChange = d.deadline
				}
			}
			p := m.merge(g.prefix, peer, draining)
			if weighted {
				p.Weight = weightFor(g, m.use, c.ads)
			}
			paths[pi] = append(paths[pi], p)
		}
	}
	for pi, peer := range c.peers {
		sessions[peer.Name] = paths[pi]
	}
}

// announces reports whether a path for group g is announced to the peer
// at index pi: some advertisement without conflict announces it there, and
// it is not a draining path whose drain time is over.
func (c *computation) announces(g group, pi int) bool {
	found, draining := false, c.drain
	for _, i := range g.ads {
		if a := c.ads[i]; a.toPeer[pi] && a.conflicts == 0 {
			found = true
			draining = draining || (c.cordoned && a.DrainOnCordon)
			if draining || !c.cordoned {
				break
			}
		}
	}
	return found && !(draining && c.drains[pi].over)
}

// merger merges the advertisements announcing one prefix to one peer into
// a path. It carves the paths' slices and pointers out of larger blocks,
// which saves one allocation per attribute and path; each carved slice has
// its capacity cut to its length, so appending to one never writes into
// another.
type merger struct {
	use    []*active
	comms  block[Community]
	large  block[LargeCommunity]
	values block[uint32] // LocalPref, MED and prepends
}

// merge returns the path for prefix toward peer from the advertisements in
// m.use, which agree on LOCAL_PREF and MED. A draining path gets the
// GracefulShutdown community and, toward an iBGP peer, LOCAL_PREF 0 in
// place of any configured one.
func (m *merger) merge(prefix netip.Prefix, peer Peer, draining bool) Path {
	p := Path{Prefix: prefix, Draining: draining}
	var prependCount int
	var prependASN uint32
	var comms, large int
	if draining {
		comms++
		if peer.IBGP() {
			p.LocalPref = &m.values.take(1)[0]
		}
	}
	for _, a := range m.use {
		comms += len(a.communities)
		large += len(a.large)
		if a.LocalPref != nil && peer.IBGP() && p.LocalPref == nil {
			p.LocalPref = &m.values.take(1)[0]
			*p.LocalPref = *a.LocalPref
		}
		if a.MED != nil && p.MED == nil {
			p.MED = &m.values.take(1)[0]
			*p.MED = *a.MED
		}
		if a.prepend > 0 {
			asn := a.ASPathPrepend.ASN
			if asn == 0 {
				asn = peer.LocalASN
			}
			if a.prepend > prependCount || (a.prepend == prependCount && asn < prependASN) {
				prependCount, prependASN = a.prepend, asn
			}
		}
	}
	p.Communities = m.comms.take(comms)[:0]
	p.LargeCommunities = m.large.take(large)[:0]
	for _, a := range m.use {
		p.Communities = append(p.Communities, a.communities...)
		p.LargeCommunities = append(p.LargeCommunities, a.large...)
	}
	if draining {
		p.Communities = append(p.Communities, GracefulShutdown)
	}
	if len(m.use) > 1 || draining {
		slices.SortFunc(p.Communities, compareCommunity)
		p.Communities = slices.Clip(slices.Compact(p.Communities))
	}
	if len(m.use) > 1 {
		slices.SortFunc(p.LargeCommunities, compareLargeCommunity)
		p.LargeCommunities = slices.Clip(slices.Compact(p.LargeCommunities))
	}
	if prependCount > 0 {
		p.ASPathPrepend = m.values.take(prependCount)
		for i := range p.ASPathPrepend {
			p.ASPathPrepend[i] = prependASN
		}
	}
	return p
}

// block hands out small slices of a larger allocation.
type block[T any] struct{ free []T }

// blockSize is how many elements a block allocates at a time.
const blockSize = 1024

// take returns a slice of n zero elements whose capacity is n, or nil if n
// is 0.
func (b *block[T]) take(n int) []T {
	if n == 0 {
		return nil
	}
	if len(b.free) < n {
		b.free = make([]T, max(n, blockSize))
	}
	s := b.free[:n:n]
	b.free = b.free[n:]
	return s
}
