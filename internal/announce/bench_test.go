package announce

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkCompute computes the paths of 5,000 dual-stack Services toward 3
// peers: half of them Local with endpoints on this node, split over two
// pools, announced by one advertisement for all with communities and by one
// for one pool with a MED, a prepend and a large community.
func BenchmarkCompute(b *testing.B) {
	in := benchInput(b)
	b.ReportAllocs()
	for b.Loop() {
		Compute(in)
	}
}

// benchInput is the input of BenchmarkCompute.
func benchInput(b *testing.B) Input {
	b.Helper()
	const services = 5000
	in := input(nil,
		Advertisement{Name: "all", Communities: []string{"65000:1", "no-export"}, LocalPref: ptr[uint32](100)},
		Advertisement{Name: "blue", Pools: []string{"blue"}, MED: ptr[uint32](10), Communities: []string{"65000:2", "1:2:3"}, ASPathPrepend: &Prepend{Count: 2}},
	)
	in.Peers = append(in.Peers, Peer{Name: "ebgp2", LocalASN: 65000, PeerASN: 65200})
	v4 := netip.MustParseAddr("198.18.0.0")
	v6 := netip.MustParseAddr("2001:db8:100::")
	for i := range services {
		s := Service{Key: "bench/s", Pool: "blue", Addrs: []netip.Addr{v4, v6}, Endpoints: []Endpoint{ready(node), ready("n2")}}
		if i%2 == 1 {
			s.Pool, s.Local = "red", true
		}
		in.Services = append(in.Services, s)
		v4, v6 = v4.Next(), v6.Next()
	}
	if res := Compute(in); len(res.Sessions) != 3 || len(res.Sessions["ebgp2"]) != 2*services {
		b.Fatalf("got %d sessions, %d paths to ebgp2; want 3 sessions, %d paths", len(res.Sessions), len(res.Sessions["ebgp2"]), 2*services)
	}
	return in
}

// BenchmarkComputeDraining computes the input of BenchmarkCompute on a
// draining node, whose every path gets the graceful-shutdown community.
func BenchmarkComputeDraining(b *testing.B) {
	in := benchInput(b)
	in = drained(in, t0, time.Minute)
	if res := Compute(in); len(res.Sessions["ebgp2"]) == 0 || len(res.DrainingPaths["ebgp2"]) != len(res.Sessions["ebgp2"]) {
		b.Fatal("the paths do not drain")
	}
	b.ReportAllocs()
	for b.Loop() {
		Compute(in)
	}
}
