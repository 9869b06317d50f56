package announce

import (
	"strings"
	"testing"
)

func TestWeightsFollowTheNodesReadyEndpoints(t *testing.T) {
	t.Parallel()
	weighted := Advertisement{Name: "weighted", WeightByEndpoints: true}
	plain := Advertisement{Name: "plain"}
	three := local(svc("web", "blue", "203.0.113.10"), ready(node), ready(node), ready(node), ready("n2"))
	oneHere := local(svc("api", "blue", "203.0.113.11"), ready(node), ready("n2"), ready("n2"))
	// Two Local Services sharing one address add up.
	sharedA := local(svc("shared-a", "blue", "203.0.113.12"), ready(node))
	sharedB := local(svc("shared-b", "blue", "203.0.113.12"), ready(node), ready(node))
	terminating := local(svc("old", "blue", "203.0.113.13"), serving(node), serving(node))
	cluster := svc("cluster", "blue", "203.0.113.14")
	aggregated := with(weighted, func(a *Advertisement) { a.AggregationLength = ptr(24) })

	tests := []struct {
		name     string
		in       Input
		want     map[string]uint32 // prefix to weight towards every peer
		wantWarn string            // substring of the weighted advertisement's warning
	}{
		{
			name: "a weighted advertisement weighs each Local Service by the node's ready endpoints",
			in:   input([]Service{three, oneHere}, weighted),
			want: map[string]uint32{"203.0.113.10/32": 3, "203.0.113.11/32": 1},
		},
		{
			name: "without the option paths carry no weight",
			in:   input([]Service{three, oneHere}, plain),
			want: map[string]uint32{"203.0.113.10/32": 0, "203.0.113.11/32": 0},
		},
		{
			name: "Services sharing an address add their endpoints",
			in:   input([]Service{sharedA, sharedB}, weighted),
			want: map[string]uint32{"203.0.113.12/32": 3},
		},
		{
			name: "a Service counted by two weighted advertisements counts once",
			in:   input([]Service{three}, weighted, with(weighted, func(a *Advertisement) { a.Name = "weighted-too" })),
			want: map[string]uint32{"203.0.113.10/32": 3},
		},
		{
			name: "while no endpoint is ready anywhere the serving ones weigh",
			in:   input([]Service{terminating}, weighted),
			want: map[string]uint32{"203.0.113.13/32": 2},
		},
		{
			name:     "a Cluster Service is announced without weight and the advertisement is warned about",
			in:       input([]Service{cluster, three}, weighted),
			want:     map[string]uint32{"203.0.113.14/32": 0, "203.0.113.10/32": 3},
			wantWarn: "default/cluster",
		},
		{
			name: "an aggregate weighs every Local Service it covers",
			in:   input([]Service{three, oneHere}, aggregated),
			want: map[string]uint32{"203.0.113.0/24": 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkWeights(t, Compute(tt.in), tt.want, tt.wantWarn)
		})
	}
}

// checkWeights checks that every peer gets the prefixes of want with
// their weights, and that the advertisement "weighted" has a warning
// containing wantWarn, or none if it is empty, and no error.
func checkWeights(t *testing.T, res Result, want map[string]uint32, wantWarn string) {
	t.Helper()
	for peer, paths := range res.Sessions {
		got := map[string]uint32{}
		for _, p := range paths {
			got[p.Prefix.String()] = p.Weight
		}
		for prefix, w := range want {
			if gw, ok := got[prefix]; !ok || gw != w {
				t.Errorf("peer %s: %s has weight %d (announced: %v), want %d", peer, prefix, gw, ok, w)
			}
		}
	}
	warn := res.Warnings["weighted"]
	switch {
	case wantWarn == "" && warn != nil:
		t.Errorf("unexpected warning: %v", warn)
	case wantWarn != "" && (warn == nil || !strings.Contains(warn.Error(), wantWarn)):
		t.Errorf("warning = %v, want one naming %s", warn, wantWarn)
	}
	if len(res.Errors) != 0 {
		t.Errorf("errors: %v; a weight problem must not stop an advertisement", res.Errors)
	}
}

func TestAPeersWeightCountsOnlyWhatReachesIt(t *testing.T) {
	t.Parallel()
	// Two Local Services share an address; a weighted advertisement
	// announces one to the eBGP peer only, a plain one the other to both.
	a := local(with(svc("a", "blue", "203.0.113.20"), func(s *Service) { s.Labels = map[string]string{"app": "a"} }), ready(node), ready(node))
	b := local(with(svc("b", "blue", "203.0.113.20"), func(s *Service) { s.Labels = map[string]string{"app": "b"} }), ready(node))
	toEBGP := Advertisement{Name: "weighted", WeightByEndpoints: true, Peers: []string{"ebgp"},
		ServiceSelectors: []LabelMatcher{labelsMatch{"app": "a"}}}
	plain := Advertisement{Name: "plain", ServiceSelectors: []LabelMatcher{labelsMatch{"app": "b"}}}
	res := Compute(input([]Service{a, b}, toEBGP, plain))
	weightTo := func(peer string) uint32 {
		for _, p := range res.Sessions[peer] {
			if p.Prefix.String() == "203.0.113.20/32" {
				return p.Weight
			}
		}
		t.Fatalf("%s gets no path for the shared address: %+v", peer, res.Sessions[peer])
		return 0
	}
	if got := weightTo("ebgp"); got != 3 {
		t.Errorf("eBGP peer: weight %d, want 3 (both Services serve the address it is sent)", got)
	}
	if got := weightTo("ibgp"); got != 0 {
		t.Errorf("iBGP peer: weight %d, want none (no weighted advertisement reaches it)", got)
	}
}
