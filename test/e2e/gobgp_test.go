package e2e

import (
	"slices"
	"testing"

	"github.com/bgplb/bgplb/test/lab"
)

// TestClusterServiceAgainstGoBGP runs the basic scenario through a GoBGP
// router (Debian's gobgpd) that accepts the nodes as dynamic neighbours, as
// users most often configure it, and one configured with each node.
func TestClusterServiceAgainstGoBGP(t *testing.T) {
	for _, neighbours := range []string{lab.StaticNeighbours, lab.DynamicNeighbours} {
		t.Run(neighbours, func(t *testing.T) {
			l := startLabWith(t, lab.Config{Nodes: 3, Router: "gobgp", Neighbours: neighbours})
			gobgp := l.Router.(*lab.GoBGP)
			// Before the nodes peer, gobgpd lists the configured
			// neighbours, not Established; dynamic ones appear only once
			// they connect.
			want := map[string]int{lab.StaticNeighbours: len(l.Nodes), lab.DynamicNeighbours: 0}[neighbours]
			known, err := gobgp.Neighbours()
			if err != nil || len(known) != want || slices.ContainsFunc(known, func(n lab.GoBGPNeighbour) bool { return n.Established }) {
				t.Fatalf("before the nodes peer, gobgpd knows neighbours %+v (%v); want %d, none Established", known, err, want)
			}
			clusterServiceScenario(t, l)
			if known, err = gobgp.Neighbours(); err != nil {
				t.Fatal(err)
			}
			var addrs []string
			for _, n := range known {
				addrs = append(addrs, n.Address)
			}
			if want := nodeAddrs(l, false, allNodes(l)...); !slices.Equal(addrs, want) {
				t.Errorf("gobgpd's neighbours are %v, want the nodes %v", addrs, want)
			}
		})
	}
}
