package gobgp

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/bgp"
)

// These tests cover the rules of ReconcilePeers on plain values, without a
// server: which peers keep their session, and which paths a reset peer
// announces again.

var peerChangeNames = map[peerChange]string{
	peerUnchanged:  "unchanged",
	peerAdded:      "added",
	peerBFDUpdated: "BFD updated in place",
	peerReset:      "reset",
}

func TestChangeFor(t *testing.T) {
	fastBFD := &bgp.BFD{ReceiveInterval: 100 * time.Millisecond, TransmitInterval: 100 * time.Millisecond, DetectMultiplier: 3}
	slowBFD := &bgp.BFD{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3}
	withBFD := func(b *bgp.BFD) func(*bgp.Peer) { return func(p *bgp.Peer) { p.BFD = b } }
	refused := errors.New("another peer has BFD on this interface")
	tests := []struct {
		name string
		old  *peerServer
		want bgp.Peer
		is   peerChange
	}{
		{"a peer without a server is added", nil, validPeer(), peerAdded},
		{
			"a peer with the same settings is left alone",
			&peerServer{cfg: withPeer(withBFD(fastBFD)), bfdDevice: "eth0"},
			withPeer(withBFD(fastBFD)),
			peerUnchanged,
		},
		{
			"a change of BFD settings alone is applied in place",
			&peerServer{cfg: withPeer(withBFD(fastBFD)), bfdDevice: "eth0"},
			withPeer(withBFD(slowBFD)),
			peerBFDUpdated,
		},
		{
			"turning BFD on is applied in place",
			&peerServer{cfg: validPeer(), bfdDevice: "eth0"},
			withPeer(withBFD(fastBFD)),
			peerBFDUpdated,
		},
		{
			"turning BFD off is applied in place",
			&peerServer{cfg: withPeer(withBFD(fastBFD)), bfdDevice: "eth0"},
			validPeer(),
			peerBFDUpdated,
		},
		{
			"BFD refused before is tried again in place",
			&peerServer{cfg: withPeer(withBFD(fastBFD)), bfdDevice: "eth0", bfdProblem: refused},
			withPeer(withBFD(fastBFD)),
			peerBFDUpdated,
		},
		{
			"BFD refused before on a server without a BFD listener resets the peer",
			&peerServer{cfg: withPeer(withBFD(fastBFD)), bfdProblem: refused},
			withPeer(withBFD(fastBFD)),
			peerReset,
		},
		{
			"a change of BFD settings on a server without a BFD listener resets the peer",
			&peerServer{cfg: withPeer(withBFD(fastBFD))},
			withPeer(withBFD(slowBFD)),
			peerReset,
		},
		{
			"a change of a BGP setting resets the peer",
			&peerServer{cfg: validPeer(), bfdDevice: "eth0"},
			withPeer(func(p *bgp.Peer) { p.HoldTime = 9 * time.Second }),
			peerReset,
		},
		{
			"a change of a BGP setting and of BFD resets the peer",
			&peerServer{cfg: withPeer(withBFD(fastBFD)), bfdDevice: "eth0"},
			withPeer(func(p *bgp.Peer) { p.PeerASN, p.BFD = 64502, slowBFD }),
			peerReset,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := changeFor(tt.old, tt.want); got != tt.is {
				t.Errorf("changeFor = %s, want %s", peerChangeNames[got], peerChangeNames[tt.is])
			}
		})
	}
}

func TestPathsWithNextHop(t *testing.T) {
	v4 := bgp.Path{Prefix: netip.MustParsePrefix("203.0.113.10/32")}
	v6 := bgp.Path{Prefix: netip.MustParsePrefix("2001:db8:100::10/128")}
	v4Other := bgp.Path{Prefix: netip.MustParsePrefix("203.0.113.11/32")}
	paths := []bgp.Path{v4, v6, v4Other}
	tests := []struct {
		name string
		peer bgp.Peer
		want []bgp.Path
	}{
		{"a peer with both next hops keeps every path", validPeer(), paths},
		{
			"a peer without an IPv6 next hop drops the IPv6 paths",
			withPeer(func(p *bgp.Peer) { p.NextHopIPv6 = netip.Addr{} }),
			[]bgp.Path{v4, v4Other},
		},
		{
			"a peer without an IPv4 next hop drops the IPv4 paths",
			withPeer(func(p *bgp.Peer) { p.NextHopIPv4 = netip.Addr{} }),
			[]bgp.Path{v6},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pathsWithNextHop(paths, tt.peer)
			if !slices.EqualFunc(got, tt.want, bgp.Path.Equal) {
				t.Errorf("pathsWithNextHop = %v, want %v", got, tt.want)
			}
		})
	}
}
