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
