package announce_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/bgplb/bgplb/internal/announce"
)

// A node with one eBGP and one iBGP peer announces a Service's address to
// both; LOCAL_PREF goes to the iBGP peer only.
func ExampleCompute() {
	med, localPref := uint32(10), uint32(200)
	res := announce.Compute(announce.Input{
		Node: announce.Node{Name: "node-a"},
		Services: []announce.Service{{
			Key:       "default/web",
			Addrs:     []netip.Addr{netip.MustParseAddr("203.0.113.10")},
			Endpoints: []announce.Endpoint{{Node: "node-b", Ready: true}},
		}},
		Advertisements: []announce.Advertisement{{
			Name:        "default",
			MED:         &med,
			LocalPref:   &localPref,
			Communities: []string{"65000:100"},
		}},
		Peers: []announce.Peer{
			{Name: "router", LocalASN: 65000, PeerASN: 65100},
			{Name: "reflector", LocalASN: 65000, PeerASN: 65000},
		},
	})
	for _, peer := range []string{"reflector", "router"} {
		for _, p := range res.Sessions[peer] {
			fmt.Printf("%s: %s med=%d local-pref set: %t\n", peer, p.Prefix, *p.MED, p.LocalPref != nil)
		}
	}
	fmt.Println("announced:", res.Announced)
	// Output:
	// reflector: 203.0.113.10/32 med=10 local-pref set: true
	// router: 203.0.113.10/32 med=10 local-pref set: false
	// announced: [default/web]
}

// A draining node keeps announcing its paths, with the graceful-shutdown
// community, for the peer's drain time, and says when to compute again.
func ExampleCompute_draining() {
	now := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	length := 64
	res := announce.Compute(announce.Input{
		Node: announce.Node{Name: "node-a", Drain: true, DrainSince: now.Add(-10 * time.Second)},
		Services: []announce.Service{{
			Key:       "default/web",
			Addrs:     []netip.Addr{netip.MustParseAddr("2001:db8:100::10")},
			Endpoints: []announce.Endpoint{{Node: "node-a", Ready: true}},
		}},
		Advertisements: []announce.Advertisement{{Name: "default", AggregationLengthV6: &length}},
		Peers:          []announce.Peer{{Name: "router", LocalASN: 65000, PeerASN: 65100, DrainTime: time.Minute}},
		Now:            now,
	})
	p := res.Sessions["router"][0]
	fmt.Println("path:", p.Prefix)
	fmt.Println("graceful shutdown:", slices.Contains(p.Communities, announce.GracefulShutdown.Uint32()))
	fmt.Println("draining:", res.DrainingPaths["router"])
	fmt.Println("withdrawn in:", res.NextChange.Sub(now))
	// Output:
	// path: 2001:db8:100::/64
	// graceful shutdown: true
	// draining: [2001:db8:100::/64]
	// withdrawn in: 50s
}

func ExampleParseCommunity() {
	for _, s := range []string{"65000:100", "no-export", "4200000000:1:2", "4200000000:1"} {
		std, large, err := announce.ParseCommunity(s)
		switch {
		case errors.Is(err, announce.ErrInvalidCommunity):
			fmt.Println("error:", err)
		case std != nil:
			fmt.Println("standard:", std)
		default:
			fmt.Println("large:", large)
		}
	}
	// Output:
	// standard: 65000:100
	// standard: 65535:65281
	// large: 4200000000:1:2
	// error: community "4200000000:1": "4200000000" is not a number from 0 to 65535; use global:local1:local2 for a large community
}

func ExampleParseWindow() {
	w, err := announce.ParseWindow("22:00", "02:00", "Europe/Berlin")
	fmt.Println(w, err)
	_, err = announce.ParseWindow("24:00", "02:00", "")
	fmt.Println(err)
	// Output:
	// 22:00-02:00 Europe/Berlin <nil>
	// invalid time of day "24:00": want HH:MM
}

func ExampleValidate() {
	length := 33
	err := announce.Validate(announce.Advertisement{
		Name:              "broken",
		Communities:       []string{"65000:x"},
		AggregationLength: &length,
	})
	fmt.Println(errors.Is(err, announce.ErrInvalidAdvertisement))
	fmt.Println(err)
	// Output:
	// true
	// community "65000:x": "x" is not a number from 0 to 65535; aggregationLength 33 is out of range 0 to 32
}
