package lab

import (
	"fmt"
	"net/netip"
	"strings"
)

// The lab's pod network is a minimal CNI: every node owns a pod CIDR per
// family, its pods hang off a bridge in the node's namespace whose
// address is their gateway, and every node routes the other nodes' pod
// CIDRs to them over the node LAN with static routes. There is no
// overlay, no IPAM beyond a counter and no network policy; that is all
// kube-proxy needs to deliver a Service's packets to a pod on any node.
const (
	// ClusterCIDR4 and ClusterCIDR6 hold every node's pod CIDR; they lie
	// outside the router's, the clients' and the Service pools' ranges.
	ClusterCIDR4 = "198.19.0.0/16"
	ClusterCIDR6 = "2001:db8:200::/48"
	// podBridge is the bridge in each node's namespace that its pods'
	// links attach to.
	podBridge = "pods"
	// maxNodes is how many nodes the cluster CIDRs have room for: each
	// node's IPv4 pod CIDR is a /20 of the /16.
	maxNodes = 16
)

// podCIDRs returns the pod CIDRs of the node with the given index: a /20
// of ClusterCIDR4 (4093 pods) and a /64 of ClusterCIDR6.
func podCIDRs(index int) (v4, v6 netip.Prefix, err error) {
	if index < 0 || index >= maxNodes {
		return netip.Prefix{}, netip.Prefix{}, fmt.Errorf("node index %d: the pod network has room for nodes 0 to %d", index, maxNodes-1)
	}
	v4 = netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(16 * index), 0}), 20)
	v6 = netip.MustParsePrefix(fmt.Sprintf("2001:db8:200:%x::/64", index))
	return v4, v6, nil
}

// podGateway is the node's own address in a pod CIDR: the first one.
func podGateway(cidr netip.Prefix) netip.Addr { return cidr.Addr().Next() }

// podAddress returns the address of the slot'th pod (from 0) in cidr,
// the addresses after the gateway, or an error once the CIDR is full.
func podAddress(cidr netip.Prefix, slot int) (netip.Addr, error) {
	size := uint64(1) << min(cidr.Addr().BitLen()-cidr.Bits(), 63)
	// The network address and the gateway are no pod's, nor is IPv4's
	// broadcast address.
	reserved := uint64(2)
	if cidr.Addr().Is4() {
		reserved = 3
	}
	if slot < 0 || uint64(slot) >= size-reserved {
		return netip.Addr{}, fmt.Errorf("pod CIDR %s has no room for pod %d", cidr, slot)
	}
	a := podGateway(cidr)
	for range slot + 1 {
		a = a.Next()
	}
	return a, nil
}

// buildPodNetwork gives every node its pod bridge and gateway addresses,
// lets it forward, and routes the other nodes' pod CIDRs over the LAN.
func (l *Lab) buildPodNetwork() error {
	for _, n := range l.Nodes {
		if err := sysctl(n.NS, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"); err != nil {
			return fmt.Errorf("let %s forward to its pods: %w", n.Name, err)
		}
		steps := [][]string{
			{"link", "add", podBridge, "type", "bridge"},
			{"addr", "add", netip.PrefixFrom(podGateway(n.PodCIDR4), n.PodCIDR4.Bits()).String(), "dev", podBridge},
			{"addr", "add", netip.PrefixFrom(podGateway(n.PodCIDR6), n.PodCIDR6.Bits()).String(), "dev", podBridge, "nodad"},
			{"link", "set", podBridge, "up"},
		}
		for _, other := range l.Nodes {
			if other == n {
				continue
			}
			steps = append(steps,
				[]string{"route", "add", other.PodCIDR4.String(), "via", other.Addr4.String()},
				[]string{"route", "add", other.PodCIDR6.String(), "via", other.Addr6.String()})
		}
		if err := ipBatch(n.NS, steps); err != nil {
			return fmt.Errorf("pod network of %s: %w", n.Name, err)
		}
	}
	return nil
}

// ipBatch runs several ip commands in one process, in a namespace if ns
// is not empty.
func ipBatch(ns string, steps [][]string) error {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString(strings.Join(s, " "))
		b.WriteByte('\n')
	}
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	_, err := runInput(b.String(), "ip", args...)
	return err
}

// PodGateway returns the node's address in its pod CIDR of one family:
// the source its pods see when kube-proxy masquerades a connection it
// delivers to one of them.
func (n *Node) PodGateway(v6 bool) netip.Addr {
	if v6 {
		return podGateway(n.PodCIDR6)
	}
	return podGateway(n.PodCIDR4)
}
