package lab

// The lab's network: bridges, namespaces and veth pairs, per DESIGN.md's
// addresses.

import (
	"fmt"
	"net"
	"net/netip"
)

// pickManagementSubnet chooses a /28 of 198.18.1.0/24 that no interface of
// the root namespace uses, so two labs can run side by side.
func (l *Lab) pickManagementSubnet() (netip.Prefix, error) {
	used := map[netip.Addr]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			used[p.Masked().Addr()] = true
		}
	}
	base := netip.MustParseAddr("198.18.1.0").As4()
	for i := 0; i < 16; i++ {
		b := base
		b[3] = byte(16 * i)
		p := netip.PrefixFrom(netip.AddrFrom4(b), 28)
		if !used[p.Addr()] {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("every management subnet of 198.18.1.0/24 is in use")
}

func (l *Lab) addNamespace(name string) error {
	if err := ip("", "netns", "add", name); err != nil {
		return err
	}
	l.onClose(func() error { return ip("", "netns", "del", name) })
	return ip(name, "link", "set", "lo", "up")
}

// veth creates a pair with one end (named inner) in ns and the other
// (named outer) in the root namespace, attached to bridge if given.
func (l *Lab) veth(ns, inner, outer, bridge string) error {
	tmp := outer + "x"
	if err := ip("", "link", "add", outer, "type", "veth", "peer", "name", tmp); err != nil {
		return err
	}
	l.onClose(func() error { _ = ip("", "link", "del", outer); return nil })
	if err := ip("", "link", "set", tmp, "netns", ns); err != nil {
		return err
	}
	if err := ip(ns, "link", "set", tmp, "name", inner); err != nil {
		return err
	}
	if bridge != "" {
		if err := ip("", "link", "set", outer, "master", bridge); err != nil {
			return err
		}
	}
	if err := ip("", "link", "set", outer, "up"); err != nil {
		return err
	}
	return ip(ns, "link", "set", inner, "up")
}

func (l *Lab) bridge(name string) error {
	if err := ip("", "link", "add", name, "type", "bridge"); err != nil {
		return err
	}
	l.onClose(func() error { return ip("", "link", "del", name) })
	return ip("", "link", "set", name, "up")
}

func sysctl(ns string, kv ...string) error {
	for _, s := range kv {
		if _, err := nsRun(ns, "sysctl", "-qw", s); err != nil {
			return err
		}
	}
	return nil
}

// buildNetwork makes the LAN and management bridges, the router and the
// client, and the nodes, the i-th with the i-th address after the root
// namespace's on the management subnet mgmt.
func (l *Lab) buildNetwork(mgmt netip.Prefix) error {
	p := l.Prefix
	l.lanBridge, l.mgmtBridge = p+"-lan", p+"-mg"
	if err := l.bridge(l.lanBridge); err != nil {
		return err
	}
	if err := l.bridge(l.mgmtBridge); err != nil {
		return err
	}
	if err := ip("", "addr", "add", netip.PrefixFrom(mgmt.Addr().Next(), 28).String(), "dev", l.mgmtBridge); err != nil {
		return err
	}
	if err := l.buildRouterAndClient(); err != nil {
		return err
	}
	mgmtAddr := mgmt.Addr().Next().Next()
	for i := range l.cfg.Nodes {
		if err := l.addNode(i, mgmtAddr); err != nil {
			return err
		}
		mgmtAddr = mgmtAddr.Next()
	}
	return l.buildPodNetwork()
}

// buildRouterAndClient makes the router's namespace, forwarding and
// hashing 5-tuples, on the LAN bridge, and the client's, linked to the
// router directly.
func (l *Lab) buildRouterAndClient() error {
	p := l.Prefix
	router := p + "-router"
	l.ClientNS = p + "-client"
	for _, ns := range []string{router, l.ClientNS} {
		if err := l.addNamespace(ns); err != nil {
			return err
		}
	}
	if err := l.veth(router, "lan", p+"-rl", l.lanBridge); err != nil {
		return err
	}
	if err := sysctl(router, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
		"net.ipv4.fib_multipath_hash_policy=1", "net.ipv6.fib_multipath_hash_policy=1"); err != nil {
		return err
	}
	for _, a := range [][]string{
		{"addr", "add", RouterLAN4 + "/24", "dev", "lan"},
		{"addr", "add", RouterLAN6 + "/64", "dev", "lan", "nodad"},
	} {
		if err := ip(router, a...); err != nil {
			return err
		}
	}
	// The client link is a direct veth between router and client.
	if err := ip("", "link", "add", p+"-c0", "type", "veth", "peer", "name", p+"-c1"); err != nil {
		return err
	}
	l.onClose(func() error { _ = ip("", "link", "del", p+"-c0"); return nil })
	for _, step := range [][]string{
		{"link", "set", p + "-c0", "netns", router},
		{"link", "set", p + "-c1", "netns", l.ClientNS},
	} {
		if err := ip("", step...); err != nil {
			return err
		}
	}
	for _, step := range []struct {
		ns   string
		args []string
	}{
		{router, []string{"link", "set", p + "-c0", "name", "cli"}},
		{router, []string{"addr", "add", "198.18.2.1/24", "dev", "cli"}},
		{router, []string{"addr", "add", "2001:db8:2::1/64", "dev", "cli", "nodad"}},
		{router, []string{"link", "set", "cli", "up"}},
		{l.ClientNS, []string{"link", "set", p + "-c1", "name", "eth0"}},
		{l.ClientNS, []string{"addr", "add", ClientAddr + "/24", "dev", "eth0"}},
		{l.ClientNS, []string{"addr", "add", ClientV6 + "/64", "dev", "eth0", "nodad"}},
		{l.ClientNS, []string{"link", "set", "eth0", "up"}},
		{l.ClientNS, []string{"route", "add", "default", "via", "198.18.2.1"}},
		{l.ClientNS, []string{"-6", "route", "add", "default", "via", "2001:db8:2::1"}},
	} {
		if err := ip(step.ns, step.args...); err != nil {
			return err
		}
	}
	return nil
}

// addNode makes node i: its namespace on the LAN and management bridges,
// with its LAN addresses and mgmtAddr.
func (l *Lab) addNode(i int, mgmtAddr netip.Addr) error {
	p := l.Prefix
	n := &Node{
		Name:  fmt.Sprintf("node-%d", i),
		NS:    fmt.Sprintf("%s-n%d", p, i),
		Addr4: netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + i)}),
		Addr6: netip.MustParseAddr(fmt.Sprintf("2001:db8:1::%x", 0x10+i)),
	}
	var err error
	if n.PodCIDR4, n.PodCIDR6, err = podCIDRs(i); err != nil {
		return err
	}
	n.mgmtAddr = mgmtAddr
	if err := l.addNamespace(n.NS); err != nil {
		return err
	}
	n.lanPeer = fmt.Sprintf("%s-n%dl", p, i)
	if err := l.veth(n.NS, "lan", n.lanPeer, l.lanBridge); err != nil {
		return err
	}
	if err := l.veth(n.NS, "mgmt", fmt.Sprintf("%s-n%dm", p, i), l.mgmtBridge); err != nil {
		return err
	}
	steps := [][]string{
		{"addr", "add", n.Addr4.String() + "/24", "dev", "lan"},
		{"addr", "add", n.Addr6.String() + "/64", "dev", "lan", "nodad"},
		{"addr", "add", netip.PrefixFrom(mgmtAddr, 28).String(), "dev", "mgmt"},
		{"route", "add", "default", "via", RouterLAN4},
		{"-6", "route", "add", "default", "via", RouterLAN6},
	}
	for _, s := range steps {
		if err := ip(n.NS, s...); err != nil {
			return err
		}
	}
	l.Nodes = append(l.Nodes, n)
	return nil
}
