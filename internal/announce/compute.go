package announce

import (
	"net/netip"
	"slices"
	"time"

	"github.com/bgplb/bgplb/internal/bgp"
)

// Compute returns the sessions of in.Node and the paths to announce on
// each, following the rules in the package documentation.
func Compute(in Input) Result {
	res := Result{Sessions: map[string][]bgp.Path{}, DrainingPaths: map[string][]netip.Prefix{},
		Errors: map[string]error{}, Warnings: map[string]error{}}
	peers := sessionPeers(in)
	for _, p := range peers {
		res.Sessions[p.Name] = []bgp.Path{}
	}
	ads := validAdvertisements(in.Advertisements, res.Errors)
	if in.Node.NetworkUnavailable || len(peers) == 0 {
		return res
	}
	c := computation{peers: peers, pools: poolLabels(in.Pools), warnings: res.Warnings,
		clusterWeighted: map[string]unweightedServices{}}
	c.startDrain(in)
	c.activate(ads, in.Node)
	if len(c.ads) == 0 {
		return res
	}
	c.collect(&in)
	c.warnUnweighted()
	c.findConflicts(res.Errors)
	c.build(res.Sessions, res.DrainingPaths)
	res.NextChange = c.nextChange
	res.Announced, res.Draining = c.announced()
	sortHeld(c.heldServices)
	res.Held = c.heldServices
	return res
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
	// nextChange is the earliest deadline of a draining path announced or
	// of a held addition.
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

// group is one announced prefix and the advertisements announcing it.
type group struct {
	prefix netip.Prefix
	ads    []int // indices into computation.ads, ascending
	// weights lists, when some advertisement weighs by endpoints, each
	// Local Service behind the prefix with the advertisement announcing
	// it; a peer's path adds up those whose advertisement reaches it.
	weights []weighted
	// sent is set once build sends the prefix to some peer, live once it
	// sends it to some peer on a path that does not drain.
	sent, live bool
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

// build sets, for every peer, the merged path of each prefix announced to
// it by advertisements without conflict, and the prefixes of those that
// drain. Prefixes are visited in order, so each peer's paths end up
// sorted.
func (c *computation) build(sessions map[string][]bgp.Path, draining map[string][]netip.Prefix) {
	paths, drainingPrefixes := c.allocatePaths()
	var m merger
	var k contribution
	for gi := range c.groups {
		g := &c.groups[gi]
		for pi, peer := range c.peers {
			c.contribute(*g, pi, &k)
			if !k.sent {
				continue
			}
			g.sent, g.live = true, g.live || !k.draining
			if k.draining {
				c.changesAt(c.drains[pi].deadline)
				drainingPrefixes[pi] = append(drainingPrefixes[pi], g.prefix)
			}
			p := m.merge(g.prefix, peer, k.use, k.draining)
			if k.weighted {
				p.Weight = weightFor(*g, k.use, c.ads)
			}
			paths[pi] = append(paths[pi], p)
		}
	}
	for pi, peer := range c.peers {
		sessions[peer.Name] = paths[pi]
		if len(drainingPrefixes[pi]) > 0 {
			draining[peer.Name] = drainingPrefixes[pi]
		}
	}
}

// allocatePaths returns, for every peer, an empty slice with room for the
// paths build sends it and one for the prefixes of those that drain
// (nil if none does). It counts them first, so that each slice is
// allocated once and at its final size.
func (c *computation) allocatePaths() (paths [][]bgp.Path, draining [][]netip.Prefix) {
	counts := make([]int, len(c.peers))
	drainCounts := make([]int, len(c.peers))
	var k contribution
	for _, g := range c.groups {
		for pi := range c.peers {
			if c.contribute(g, pi, &k); !k.sent {
				continue
			}
			counts[pi]++
			if k.draining {
				drainCounts[pi]++
			}
		}
	}
	paths = make([][]bgp.Path, len(c.peers))
	draining = make([][]netip.Prefix, len(c.peers))
	for pi := range c.peers {
		paths[pi] = make([]bgp.Path, 0, counts[pi])
		if drainCounts[pi] > 0 {
			draining[pi] = make([]netip.Prefix, 0, drainCounts[pi])
		}
	}
	return paths, draining
}

// changesAt makes t the next change if it comes before the one known.
func (c *computation) changesAt(t time.Time) {
	if c.nextChange.IsZero() || t.Before(c.nextChange) {
		c.nextChange = t
	}
}

// announced returns the keys of the candidates with a prefix announced to
// some peer, sorted.
// It also returns, sorted, those of them whose every announced path is
// draining.
func (c *computation) announced() (announced, draining []string) {
	if len(c.candidates) == 0 {
		return nil, nil
	}
	// sent maps each announced prefix to whether some path of it is not
	// draining.
	sent := make(map[netip.Prefix]bool, len(c.groups))
	for _, g := range c.groups {
		if g.sent {
			sent[g.prefix] = g.live
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
