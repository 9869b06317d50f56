package speaker

import (
	"slices"

	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/bgp"
)

// pathToEngine turns a rule-side path into the engine's form.
func pathToEngine(p announce.Path) bgp.Path {
	out := bgp.Path{Prefix: p.Prefix, LocalPref: p.LocalPref, MED: p.MED, ASPathPrepend: slices.Clone(p.ASPathPrepend), Weight: p.Weight}
	for _, c := range p.Communities {
		out.Communities = append(out.Communities, uint32(c.ASN)<<16|uint32(c.Value))
	}
	for _, c := range p.LargeCommunities {
		out.LargeCommunities = append(out.LargeCommunities, bgp.LargeCommunity{Global: c.Global, Local1: c.Local1, Local2: c.Local2})
	}
	return out
}
