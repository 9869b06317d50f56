//go:build linux

package datapath

import "slices"

// Findings are what a Node found on the node and what it changed there,
// in short sentences for the speaker's status.
type Findings struct {
	// Found: the tunnel device and reverse-path filtering as they were,
	// whether an earlier speaker left a datapath to take over, and a
	// failed renewal of the lease.
	Found []string
	// Changed: what Open and Apply did to the tunnel device, the
	// reverse-path filter and the interfaces' hooks.
	Changed []string
}

// Findings returns what the node found and changed.
func (n *Node) Findings() Findings {
	f := Findings{Found: slices.Clone(n.found), Changed: slices.Clone(n.changed)}
	if n.renewal != nil {
		if failure := n.renewal.lastFailure(); failure != "" {
			f.Found = append(f.Found, "the last renewal of the datapath's lease failed at "+failure)
		}
	}
	return f
}
