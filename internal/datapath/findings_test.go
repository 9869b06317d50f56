//go:build linux

package datapath

import (
	"net"
	"testing"
)

// Findings say whether conntrack is active, as it is when it is checked:
// a fresh namespace tracks nothing, and once a rule uses conntrack the
// next datagram is tracked.
func TestFindingsSayWhetherConntrackIsActive(t *testing.T) {
	n, ns := openNode(t)
	requireFinding(t, n.Findings().Found, "conntrack tracks no connection in the node's network namespace")
	activateConntrack(t, ns)
	inNetns(t, ns, func() {
		conn, err := net.Dial("udp", "127.0.0.1:9")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("tracked")); err != nil {
			t.Fatal(err)
		}
	})
	requireFinding(t, n.Findings().Found, "conntrack is active in the node's network namespace")
}

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
