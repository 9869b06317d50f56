//go:build linux

package datapath

import "testing"

// Findings say what the node found and did: the tunnel device, that no
// earlier speaker left a datapath, and where the program went.
func TestFindingsSayWhatTheNodeFoundAndChanged(t *testing.T) {
	n, _ := openNode(t)
	applyPlan(t, n)
	f := n.Findings()
	requireFinding(t, f.Found, "no device bgplb-vx0")
	requireFinding(t, f.Found, "net.ipv4.conf.all.rp_filter=")
	requireFinding(t, f.Found, "no datapath of an earlier speaker in ")
	requireFinding(t, f.Changed, "created device bgplb-vx0")
	requireFinding(t, f.Changed, "attached the program to up0 (uplink)")
	requireFinding(t, f.Changed, "attached the program to bgplb-vx0 (tunnel)")
}
