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
	a, b := e.peers["a"], e.peers["b"]
	e.mu.Unlock()
	if a == nil || !a.runsBFD() || a.bfdDevice != "lo" {
		t.Fatalf("peer a should run BFD bound to lo, has %+v", a)
	}
	if b == nil || b.runsBFD() || !b.cfg.Equal(peer("b", "127.0.0.3")) {
		t.Fatalf("peer b should run, without BFD but with its requested settings kept: %+v", b)
	}

	// Once a gives BFD up, b gets it, on the same server: no reset.
	withoutBFD := peer("a", "127.0.0.2")
	withoutBFD.BFD = nil
	if err := e.ReconcilePeers(context.Background(), bgp.ReconcilePeersRequest{Peers: []bgp.Peer{withoutBFD, peer("b", "127.0.0.3")}}); err != nil {
		t.Fatalf("ReconcilePeers after a gave BFD up: %v", err)
	}
	e.mu.Lock()
	a2, b2 := e.peers["a"], e.peers["b"]
	e.mu.Unlock()
	if a2 != a || b2 != b {
		t.Error("changing only BFD settings replaced a server, which resets its BGP session")
	}
	if a.runsBFD() || !b.runsBFD() {
		t.Errorf("after the change a runs BFD: %v, b runs BFD: %v; want false, true", a.runsBFD(), b.runsBFD())
	}
}
