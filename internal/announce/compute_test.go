package announce

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestComputeIgnoresInputOrder shuffles every slice of an input with
// several advertisements, Services and conflicts, on a node as usual and
// on a cordoned one, and expects the same result each time.
func TestComputeIgnoresInputOrder(t *testing.T) {
	t.Parallel()
	usual := input([]Service{
		svc("a", "blue", "203.0.113.10", "2001:db8:100::10"),
		svc("b", "blue", "203.0.113.20"),
		svc("c", "red", "198.51.100.1", "2001:db8:100::1:1"),
		local(svc("d", "red", "198.51.100.2"), ready(node)),
	},
		Advertisement{Name: "agg", AggregationLength: ptr(24), AggregationLengthV6: ptr(64), Communities: []string{"65000:1"}, MED: ptr[uint32](5)},
		Advertisement{Name: "host", Communities: []string{"65000:2", "1:2:3"}, ASPathPrepend: &Prepend{Count: 1}},
		Advertisement{Name: "red-a", Pools: []string{"red"}, MED: ptr[uint32](1)},
		Advertisement{Name: "red-b", Pools: []string{"red"}, MED: ptr[uint32](2)},
		Advertisement{Name: "ibgp-only", Peers: []string{"ibgp"}, LocalPref: ptr[uint32](300), ASPathPrepend: &Prepend{Count: 2, ASN: 65001}, DrainOnCordon: true},
	)
	drain := cordoned(usual, t0, time.Minute)
	if Compute(drain).NextChange.IsZero() {
		t.Fatal("the cordoned input drains no path")
	}
	for _, in := range []Input{usual, drain} {
		checkIgnoresOrder(t, in)
	}
}

func checkIgnoresOrder(t *testing.T, in Input) {
	t.Helper()
	want := Compute(in)
	if len(want.Errors) != 2 || len(want.Sessions["ibgp"]) == 0 {
		t.Fatalf("the input does not exercise conflicts and paths: %v, %v", want.Errors, describeSessions(want))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		shuffled := in
		shuffled.Services = shuffle(r, in.Services)
		shuffled.Advertisements = shuffle(r, in.Advertisements)
		shuffled.Peers = shuffle(r, in.Peers)
		shuffled.Pools = shuffle(r, in.Pools)
		for j := range shuffled.Services {
			shuffled.Services[j].Addrs = shuffle(r, shuffled.Services[j].Addrs)
		}
		got := Compute(shuffled)
		if !got.NextChange.Equal(want.NextChange) {
			t.Fatalf("shuffle %d: NextChange %v, want %v", i, got.NextChange, want.NextChange)
		}
		if !reflect.DeepEqual(describeSessions(got), describeSessions(want)) {
			t.Fatalf("shuffle %d: sessions %v, want %v", i, describeSessions(got), describeSessions(want))
		}
		for name, err := range want.Errors {
			if got.Errors[name] == nil || got.Errors[name].Error() != err.Error() {
				t.Fatalf("shuffle %d: error for %q is %v, want %v", i, name, got.Errors[name], err)
			}
		}
	}
}

func shuffle[T any](r *rand.Rand, s []T) []T {
	s = append([]T(nil), s...)
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

// TestComputeOutputIsNotShared checks that changing a returned path changes
// neither the input nor another path.
func TestComputeOutputIsNotShared(t *testing.T) {
	t.Parallel()
	ad := Advertisement{Name: "a", Communities: []string{"65000:1"}, LocalPref: ptr[uint32](10), MED: ptr[uint32](20)}
	res := Compute(input([]Service{svc("a", "blue", "203.0.113.10"), svc("b", "blue", "203.0.113.20")}, ad))
	paths := res.Sessions["ibgp"]
	if len(paths) != 2 {
		t.Fatalf("got %d paths, want 2", len(paths))
	}
	paths[0].Communities[0] = 99
	*paths[0].LocalPref, *paths[0].MED = 99, 99
	if got := describePath(res, "ibgp", 1); got != "203.0.113.20/32 c=65000:1 lp=10 med=20" {
		t.Errorf("second path changed with the first: %s", got)
	}
	if *ad.LocalPref != 10 || *ad.MED != 20 {
		t.Errorf("the advertisement changed with a path: localPref %d, MED %d", *ad.LocalPref, *ad.MED)
	}

	res = Compute(drained(input([]Service{svc("a", "blue", "203.0.113.10"), svc("b", "blue", "203.0.113.20")}, ad), t0, time.Minute))
	paths = res.Sessions["ibgp"]
	if len(paths) != 2 {
		t.Fatalf("got %d draining paths, want 2", len(paths))
	}
	paths[0].Communities[1] = 99
	paths[0].Communities = append(paths[0].Communities, Community{1, 1}.Uint32())
	*paths[0].LocalPref, *paths[0].MED = 99, 99
	if got := describePath(res, "ibgp", 1); got != "203.0.113.20/32 c=65000:1,65535:0 lp=0 med=20 draining" {
		t.Errorf("second draining path changed with the first: %s", got)
	}
	if GracefulShutdown != (Community{65535, 0}) {
		t.Errorf("GracefulShutdown changed with a path: %v", GracefulShutdown)
	}
}
