package announce

import (
	"fmt"
	"net/netip"
)

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
