package announce

import (
	"time"
)

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

// contribution is what the advertisements announcing one prefix make of
// the path toward one peer.
type contribution struct {
	// use lists the advertisements that announce the prefix to the peer
	// without conflict, in the order of computation.ads.
	use []*active
	// draining is set if the path drains: the node drains, or it is
	// cordoned and one of use has DrainOnCordon.
	draining bool
	// weighted is set if one of use weighs by endpoints.
	weighted bool
	// sent is set if the path is announced: use is not empty, and the
	// path is not a draining one whose drain time toward the peer is over.
	sent bool
}

// contribute fills k for the prefix of g toward the peer at index pi,
// reusing k.use. It is the one place that decides whether a path drains
// and whether a draining path is still announced.
func (c *computation) contribute(g group, pi int, k *contribution) {
	k.use = k.use[:0]
	k.draining, k.weighted = c.drain, false
	for _, i := range g.ads {
		if a := c.ads[i]; a.toPeer[pi] && a.conflicts == 0 {
			k.use = append(k.use, a)
			k.draining = k.draining || (c.cordoned && a.DrainOnCordon)
			k.weighted = k.weighted || a.WeightByEndpoints
		}
	}
	k.sent = len(k.use) > 0 && !(k.draining && c.drains[pi].over)
}
