package translate

import (
	"net/netip"
	"time"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/director"
)

// DefaultDirectorDrainTimeout is an IPPool's spec.director.drainTimeout
// when it is unset.
const DefaultDirectorDrainTimeout = 5 * time.Minute

// DirectorPools returns the pools with the director on, each with its
// drain timeout, by name.
func DirectorPools(pools []v1alpha1.IPPool) map[string]time.Duration {
	out := map[string]time.Duration{}
	for i := range pools {
		d := pools[i].Spec.Director
		if d == nil || !d.Enabled {
			continue
		}
		timeout := DefaultDirectorDrainTimeout
		if d.DrainTimeout != nil {
			timeout = max(d.DrainTimeout.Duration, 0)
		}
		out[pools[i].Name] = timeout
	}
	return out
}

// DirectorNode is another node as the director sees it, from its
// BGPNodeStatus: whether it can own connections, where forwarded packets
// for it go, and its role for each Service it lists.
func DirectorNode(st *v1alpha1.BGPNodeStatus) director.Node {
	n := director.Node{Name: st.Name, Roles: make(map[string]director.Role, len(st.Status.Services))}
	if d := st.Status.Director; d != nil {
		n.Ready = d.Ready
		if addr, err := netip.ParseAddr(d.TunnelAddress); err == nil {
			n.TunnelAddress = addr.Unmap()
		}
	}
	for _, s := range st.Status.Services {
		switch s.State {
		case v1alpha1.AnnouncementAnnounced:
			n.Roles[s.Name] = director.Serving
		case v1alpha1.AnnouncementDraining, v1alpha1.AnnouncementFinishing:
			n.Roles[s.Name] = director.Draining
		}
	}
	return n
}
