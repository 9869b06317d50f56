//go:build linux

package datapath

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/bgplb/bgplb/internal/director"
)

// Findings are what a Node found on the node and what it changed there,
// in short sentences for the speaker's status. Found: the tunnel device
// and reverse-path filtering as they were, whether an earlier speaker
// left a datapath to take over, whether conntrack is active, and a failed
// renewal of the lease. Changed: what Open and Apply did to the tunnel
// device, the reverse-path filter and the interfaces' hooks.
type Findings = director.Findings

// Findings returns what the node found and changed. Whether conntrack
// is active is checked anew on every call, while the node is open.
func (n *Node) Findings() Findings {
	f := Findings{Found: slices.Clone(n.found), Changed: slices.Clone(n.changed)}
	if n.renewal != nil {
		if failure := n.renewal.lastFailure(); failure != "" {
			f.Found = append(f.Found, "the last renewal of the datapath's lease failed at "+failure)
		}
	}
	if n.netns.IsOpen() {
		var conntrack string
		err := inNamespace(n.netns, func() error {
			conntrack = conntrackFinding()
			return nil
		})
		if err != nil {
			conntrack = fmt.Sprintf("could not tell whether conntrack is active: %v", err)
		}
		f.Found = append(f.Found, conntrack)
	}
	return f
}

// conntrackFinding says whether conntrack tracks connections in the
// calling thread's network namespace. The kernel tracks none until a
// rule of iptables or nftables uses conntrack there, and then tracks
// every connection, the speaker's own BGP sessions among them: no entry
// at all means it is not active. Without it the program's conntrack
// lookups all miss.
func conntrackFinding() string {
	count, err := readSysctl("net/netfilter/nf_conntrack_count")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "conntrack is not loaded (no net.netfilter.nf_conntrack_count): the director cannot tell the connections this node serves, and sends their packets on to other nodes"
	case err != nil:
		return fmt.Sprintf("could not tell whether conntrack is active: %v", err)
	case count == 0:
		return "conntrack tracks no connection in the node's network namespace: unless a rule of iptables or nftables uses it (kube-proxy's do), the director cannot tell the connections this node serves"
	default:
		return "conntrack is active in the node's network namespace"
	}
}
