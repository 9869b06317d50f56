package gobgp

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/bgplb/bgplb/internal/bgp"
)

// bfdPort is where BFD control packets for single-hop sessions arrive
// (RFC 5881).
const bfdPort = 3784

// bfdDeviceFor returns the interface through which the node reaches p,
// to bind the BFD listener of p's server to.
//
// GoBGP gives each server its own BFD listener on UDP port 3784. Several
// listeners on one port receive nothing reliably unless each is bound to a
// different interface: the kernel hands every packet to one of them, and a
// BFD session whose packets go to another server never comes up, which
// GoBGP answers by resetting the BGP session. So BFD is allowed for at
// most one peer per interface, and bfdDeviceFor refuses a second one.
func (e *Engine) bfdDeviceFor(p bgp.Peer) (string, error) {
	dev, err := egressInterface(p)
	if err != nil {
		return "", err
	}
	for name, other := range e.peers {
		if name != p.Name && other.bfdDevice == dev && other.effective.BFD != nil {
			return "", fmt.Errorf("peer %q already runs BFD through interface %s, and only one BFD session per interface is supported", name, dev)
		}
	}
	return dev, nil
}

// egressInterface finds the interface the kernel would use to send to
// p's address. Connecting a UDP socket chooses the route without sending
// anything.
func egressInterface(p bgp.Peer) (string, error) {
	var local *net.UDPAddr
	if p.SourceAddress.IsValid() {
		local = net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.SourceAddress, 0))
	}
	remote := net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.Address, bfdPort))
	conn, err := net.DialUDP("udp", local, remote)
	if err != nil {
		return "", fmt.Errorf("find the interface towards %s: %w", p.Address, err)
	}
	src := conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	conn.Close()
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("list interfaces: %w", err)
	}
	for _, iface := range ifaces {
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == src {
					return iface.Name, nil
				}
			}
		}
	}
	return "", fmt.Errorf("no interface holds %s, the source address towards %s", src, net.JoinHostPort(p.Address.String(), strconv.Itoa(bfdPort)))
}
