package director

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/bgplb/bgplb/internal/owner"
)

// Role is what a node does for one Service, as it publishes it.
type Role uint8

const (
	// NotServing is a node that neither announces the Service nor serves
	// its connections any more (the zero value).
	NotServing Role = iota
	// Serving is a node that announces the Service and may own its new
	// connections.
	Serving
	// Draining is a node that serves the connections it owns but takes no
	// new ones: it drains, or its last local endpoint terminates.
	Draining
)

// Node is one node as the other nodes see it.
type Node struct {
	Name string
	// Ready says the node's datapath is loaded; a node that is not ready
	// owns nothing, whatever it announces.
	Ready bool
	// TunnelAddress is where forwarded packets for the node go.
	TunnelAddress netip.Addr
	// Roles gives the node's role for each Service, by Service key; a
	// Service it does not list is NotServing.
	Roles map[string]Role
}

// Service is one Service whose addresses come from a pool with the
// director on. Services of other pools are not given to Build.
type Service struct {
	Key   string
	Addrs []netip.Addr
}

// Plan is what every node forwards by.
type Plan struct {
	// Tables are the owner tables, by the key of their member set
	// (owner.Key): Services served by the same nodes in the same roles
	// share one.
	Tables map[string]owner.Table
	// Addresses maps each Service address that has at least one owner to
	// the key of its table.
	Addresses map[netip.Addr]string
	// Tunnels gives the tunnel address of every node named in a table.
	Tunnels map[string]netip.Addr
}

// Build computes the Plan from the nodes and the director's Services,
// with tables of size buckets. The same inputs in any order give the same
// Plan. An address listed by two Services (a shared address) is served
// by the union of both Services' nodes, since a router sends it to all of
// them.
func Build(nodes []Node, services []Service, size int) (Plan, error) {
	members := membersByAddress(nodes, services)
	plan := Plan{Tables: map[string]owner.Table{}, Addresses: map[netip.Addr]string{}, Tunnels: map[string]netip.Addr{}}
	tunnels := tunnelsByNode(nodes)
	for addr, set := range members {
		key := owner.Key(set)
		if _, built := plan.Tables[key]; !built {
			table, err := owner.Build(set, size)
			if err != nil {
				return Plan{}, fmt.Errorf("owner table for %s: %w", addr, err)
			}
			plan.Tables[key] = table
		}
		plan.Addresses[addr] = key
		for _, m := range set {
			plan.Tunnels[m.Node] = tunnels[m.Node]
		}
	}
	return plan, nil
}

// membersByAddress gives each Service address the nodes that may own its
// connections, sorted by name. A node counts only when it is ready and has
// a tunnel address; an address no such node serves is left out.
func membersByAddress(nodes []Node, services []Service) map[netip.Addr][]owner.Member {
	roles := map[netip.Addr]map[string]Role{}
	for _, n := range nodes {
		if !n.Ready || !n.TunnelAddress.IsValid() {
			continue
		}
		for _, svc := range services {
			role := n.Roles[svc.Key]
			if role == NotServing {
				continue
			}
			for _, addr := range svc.Addrs {
				addr = addr.Unmap()
				if roles[addr] == nil {
					roles[addr] = map[string]Role{}
				}
				roles[addr][n.Name] = stronger(roles[addr][n.Name], role)
			}
		}
	}
	out := make(map[netip.Addr][]owner.Member, len(roles))
	for addr, byNode := range roles {
		set := make([]owner.Member, 0, len(byNode))
		for name, role := range byNode {
			set = append(set, owner.Member{Node: name, State: memberState(role)})
		}
		slices.SortFunc(set, func(a, b owner.Member) int { return cmp.Compare(a.Node, b.Node) })
		out[addr] = set
	}
	return out
}

// stronger is the role a node has for a shared address when it has two
// through two Services: serving one of them makes it a serving node.
func stronger(a, b Role) Role {
	if a == Serving || b == Serving {
		return Serving
	}
	return max(a, b)
}

func memberState(r Role) owner.State {
	if r == Draining {
		return owner.Draining
	}
	return owner.Active
}

func tunnelsByNode(nodes []Node) map[string]netip.Addr {
	out := make(map[string]netip.Addr, len(nodes))
	for _, n := range nodes {
		out[n.Name] = n.TunnelAddress
	}
	return out
}

// Digest is a short fingerprint of what the plan forwards: every address
// with the members of its table, and every member's tunnel address. Nodes
// whose plans have the same digest forward every packet alike, so
// comparing the digests the nodes publish tells whether they agree.
func (p Plan) Digest() string {
	lines := make([]string, 0, len(p.Addresses)+len(p.Tunnels))
	for addr, key := range p.Addresses {
		lines = append(lines, "a "+addr.String()+" "+key)
	}
	for node, addr := range p.Tunnels {
		lines = append(lines, "t "+node+" "+addr.String())
	}
	slices.Sort(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:8])
}
