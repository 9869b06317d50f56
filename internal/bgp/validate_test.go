package bgp

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func validPeer() Peer {
	return Peer{
		Name:        "tor",
		Address:     netip.MustParseAddr("198.18.0.1"),
		LocalASN:    64512,
		PeerASN:     64501,
		RouterID:    netip.MustParseAddr("198.18.0.2"),
		NextHopIPv4: netip.MustParseAddr("198.18.0.2"),
		NextHopIPv6: netip.MustParseAddr("2001:db8:1::2"),
	}
}

func withPeer(f func(*Peer)) Peer {
	p := validPeer()
	f(&p)
	return p
}

func TestValidatePeer(t *testing.T) {
	tests := []struct {
		name    string
		peer    Peer
		wantErr string
	}{
		{name: "a peer with the required fields is valid", peer: validPeer()},
		{name: "a peer needs a name", peer: withPeer(func(p *Peer) { p.Name = "" }), wantErr: "no name"},
		{name: "a peer needs an address", peer: withPeer(func(p *Peer) { p.Address = netip.Addr{} }), wantErr: "not a usable address"},
		{name: "a peer needs both ASNs", peer: withPeer(func(p *Peer) { p.PeerASN = 0 }), wantErr: "must not be 0"},
		{name: "the router ID must be IPv4", peer: withPeer(func(p *Peer) { p.RouterID = netip.MustParseAddr("2001:db8::1") }), wantErr: "router ID"},
		{
			name:    "the source address must be of the peer address's family",
			peer:    withPeer(func(p *Peer) { p.SourceAddress = netip.MustParseAddr("2001:db8:1::2") }),
			wantErr: "different families",
		},
		{name: "a hold time under 3 s is refused", peer: withPeer(func(p *Peer) { p.HoldTime = 2 * time.Second }), wantErr: "hold time"},
		{
			name:    "a keepalive longer than the hold time is refused",
			peer:    withPeer(func(p *Peer) { p.HoldTime, p.KeepaliveTime = 3*time.Second, 4*time.Second }),
			wantErr: "keepalive",
		},
		{
			name:    "a password longer than Linux allows is refused without being shown",
			peer:    withPeer(func(p *Peer) { p.Password = strings.Repeat("secret", 14) }),
			wantErr: "longer than 80 bytes",
		},
		{
			name:    "a restart time over 4095 s is refused",
			peer:    withPeer(func(p *Peer) { p.GracefulRestart = GracefulRestart{Enabled: true, RestartTime: time.Hour * 2} }),
			wantErr: "graceful restart time",
		},
		{
			name:    "an IPv6 next hop must be IPv6",
			peer:    withPeer(func(p *Peer) { p.NextHopIPv6 = netip.MustParseAddr("198.18.0.2") }),
			wantErr: "IPv6 next hop",
		},
		{
			name:    "a peer needs a next hop of at least one family",
			peer:    withPeer(func(p *Peer) { p.NextHopIPv4, p.NextHopIPv6 = netip.Addr{}, netip.Addr{} }),
			wantErr: "neither an IPv4 nor an IPv6 next hop",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.peer.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate error = %v, want one containing %q", err, tt.wantErr)
			}
			if err != nil && tt.peer.Password != "" && strings.Contains(err.Error(), tt.peer.Password) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}
