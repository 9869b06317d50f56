package gobgp

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/bgp"
)

// Every GoBGP server opens its own BFD listener on UDP 3784, and only one
// listener per interface can receive; so a second peer with BFD through
// the same interface runs without BFD, and the engine says why.
func TestOnlyOnePeerPerInterfaceGetsBFD(t *testing.T) {
	e := New(nil)
	t.Cleanup(func() { _ = e.Stop(context.Background(), bgp.StopRequest{}) })
	fast := &bgp.BFD{ReceiveInterval: 100 * time.Millisecond, TransmitInterval: 100 * time.Millisecond, DetectMultiplier: 3}
	peer := func(name, addr string) bgp.Peer {
		return bgp.Peer{Name: name, Address: netip.MustParseAddr(addr), LocalASN: 64512, PeerASN: 64500,
			RouterID: netip.MustParseAddr("198.18.0.10"), NextHopIPv4: netip.MustParseAddr("127.0.0.1"), BFD: fast}
	}
	// Both addresses are reached through the loopback interface.
	err := e.ReconcilePeers(context.Background(), bgp.ReconcilePeersRequest{Peers: []bgp.Peer{peer("a", "127.0.0.2"), peer("b", "127.0.0.3")}})
	if err == nil || !strings.Contains(err.Error(), `BFD is off for peer "b"`) || !strings.Contains(err.Error(), `peer "a" already runs BFD through interface lo`) {
		t.Fatalf("ReconcilePeers error = %v, want BFD refused for b because a uses lo", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if a := e.peers["a"]; a == nil || a.effective.BFD == nil || a.bfdDevice != "lo" {
		t.Errorf("peer a should run BFD bound to lo, has %+v", a)
	}
	if b := e.peers["b"]; b == nil || b.effective.BFD != nil || !b.cfg.Equal(peer("b", "127.0.0.3")) {
		t.Errorf("peer b should run, without BFD but with its requested settings kept: %+v", b)
	}
}
