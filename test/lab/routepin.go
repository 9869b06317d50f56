package lab

import (
	"fmt"
	"net/netip"
	"strconv"
)

// pinTable is the routing table of the router namespace that holds pinned
// routes, and pinRulePriority the priority of the rules that look into
// it: ahead of the main table (32766), where FRR installs what BGP chose.
const (
	pinTable        = 4242
	pinRulePriority = 100
)

// PinRoute makes the router send every packet for prefix to node n,
// whatever next hops BGP gave the router's kernel: a policy rule looks the
// prefix up in a table of its own, ahead of the main table. BGP is left
// alone, so every node that announces the prefix still does, and its
// status still says it serves it; only the router's forwarding is forced,
// as a router whose other paths are down would forward. The returned
// function takes the pin away; the router's namespace goes with the lab
// anyway.
func (l *Lab) PinRoute(prefix netip.Prefix, n *Node) (unpin func() error, err error) {
	family, via := "-4", n.Addr4
	if prefix.Addr().Is6() {
		family, via = "-6", n.Addr6
	}
	router := l.Prefix + "-router"
	table, priority := strconv.Itoa(pinTable), strconv.Itoa(pinRulePriority)
	if err := ip(router, family, "route", "replace", prefix.String(), "via", via.String(), "table", table); err != nil {
		return nil, fmt.Errorf("pin %s to %s: %w", prefix, n.Name, err)
	}
	rule := []string{"to", prefix.String(), "lookup", table, "priority", priority}
	if err := ip(router, append([]string{family, "rule", "add"}, rule...)...); err != nil {
		return nil, fmt.Errorf("pin %s to %s: %w", prefix, n.Name, err)
	}
	return func() error {
		if err := ip(router, append([]string{family, "rule", "del"}, rule...)...); err != nil {
			return fmt.Errorf("unpin %s: %w", prefix, err)
		}
		if err := ip(router, family, "route", "del", prefix.String(), "table", table); err != nil {
			return fmt.Errorf("unpin %s: %w", prefix, err)
		}
		return nil
	}, nil
}
