package announce

import (
	"cmp"
	"net/netip"
	"slices"
)

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

// poolLabels maps the name of each pool to its labels, using the first
// pool of each name.
func poolLabels(pools []Pool) map[string]map[string]string {
	out := make(map[string]map[string]string, len(pools))
	for _, p := range pools {
		if _, dup := out[p.Name]; !dup {
			out[p.Name] = p.Labels
		}
	}
	return out
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
	col := c.newCollection(in)
	for i := range in.Services {
		svc := &in.Services[i]
		if len(svc.Addrs) == 0 || !announcedFrom(svc, col.node) {
			continue
		}
		col.selecting = c.selecting(svc, col.selecting[:0])
		if len(col.selecting) == 0 || c.held(svc, col.selecting, in) {
			continue
		}
		c.addService(&col, svc, i)
	}
	c.groupByPrefix(col.found)
	c.addWeights(col.weights)
}

// collection is what collect gathers, Service by Service.
type collection struct {
	node string
	// found lists every prefix with an advertisement announcing it, in
	// no order and with duplicates.
	found []announcement
	// weights lists the Local Services behind each prefix, if some
	// advertisement weighs by endpoints (anyWeighted).
	weights     []weighted
	anyWeighted bool
	// selecting is the advertisements selecting the Service at hand.
	selecting []*active
}

func (c *computation) newCollection(in *Input) collection {
	// Most addresses are announced by one advertisement, which makes the
	// number of addresses a good first capacity.
	n := 0
	for i := range in.Services {
		n += len(in.Services[i].Addrs)
	}
	col := collection{node: in.Node.Name, found: make([]announcement, 0, n)}
	for _, a := range c.ads {
		col.anyWeighted = col.anyWeighted || a.WeightByEndpoints
	}
	return col
}

// selecting appends to out the advertisements that select svc by its pool
// and labels.
func (c *computation) selecting(svc *Service, out []*active) []*active {
	for _, a := range c.ads {
		if c.selectsPool(a, svc.Pool) && matchesOptional(a.ServiceSelectors, svc.Labels) {
			out = append(out, a)
		}
	}
	return out
}

// addService records the prefixes that the advertisements of
// col.selecting announce for svc, the Service at index si of the input,
// with its ready endpoints if it is Local, and makes svc a candidate.
func (c *computation) addService(col *collection, svc *Service, si int) {
	first := len(col.found)
	for ai, a := range c.ads {
		if !slices.Contains(col.selecting, a) {
			continue
		}
		if a.WeightByEndpoints && !svc.Local {
			c.unweighted(a.Name, svc.Key)
		}
		for _, addr := range svc.Addrs {
			prefix, ok := a.prefix(addr)
			if !ok {
				continue
			}
			col.found = append(col.found, announcement{prefix, ai})
			if col.anyWeighted && svc.Local {
				col.weights = append(col.weights, weighted{prefix, si, ai, readyOn(svc, col.node)})
			}
		}
	}
	cand := candidate{key: svc.Key}
	for _, f := range col.found[first:] {
		cand.prefixes = append(cand.prefixes, f.prefix)
	}
	c.candidates = append(c.candidates, cand)
}

// groupByPrefix makes one group of every prefix found, in order, with the
// advertisements announcing it.
func (c *computation) groupByPrefix(found []announcement) {
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
