package bgp

import (
	"net/netip"
	"testing"
	"time"
)

func TestPeerEqualComparesBFDTimersNotPointers(t *testing.T) {
	t.Parallel()
	base := Peer{Name: "tor", Address: netip.MustParseAddr("198.18.0.1"), LocalASN: 64512, PeerASN: 64500}
	withBFD := func(rx time.Duration) Peer {
		p := base
		p.BFD = &BFD{ReceiveInterval: rx, TransmitInterval: 100 * time.Millisecond, DetectMultiplier: 3}
		return p
	}
	tests := []struct {
		name string
		a, b Peer
		want bool
	}{
		{"the same timers in different BFD values are equal", withBFD(100 * time.Millisecond), withBFD(100 * time.Millisecond), true},
		{"different BFD timers differ", withBFD(100 * time.Millisecond), withBFD(300 * time.Millisecond), false},
		{"BFD on and off differ", withBFD(100 * time.Millisecond), base, false},
		{"two peers without BFD are equal", base, base, true},
		{"other settings still count", base, Peer{Name: "tor", Address: netip.MustParseAddr("198.18.0.2"), LocalASN: 64512, PeerASN: 64500}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Equal(tt.b); got != tt.want {
				t.Errorf("Equal = %v, want %v", got, tt.want)
			}
			if got := tt.b.Equal(tt.a); got != tt.want {
				t.Errorf("Equal the other way round = %v, want %v", got, tt.want)
			}
		})
	}
}
