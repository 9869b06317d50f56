package speaker

// Tests of the steps of a recompute that carry a rule, on plain values.

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// An edit that breaks an object keeps its last usable version in use and
// says so; a broken object never seen usable is left out; objects that
// are gone are forgotten.
func TestABrokenEditKeepsTheLastUsableVersion(t *testing.T) {
	peers := func(names ...string) []v1alpha1.BGPPeer {
		var out []v1alpha1.BGPPeer
		for _, n := range names {
			out = append(out, v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: n}})
		}
		return out
	}
	// Version v of each peer; a peer in broken fails to translate.
	translateAt := func(v int, broken ...string) func(*v1alpha1.BGPPeer) (int, error) {
		return func(p *v1alpha1.BGPPeer) (int, error) {
			if slices.Contains(broken, p.Name) {
				return 0, errors.New("spec.peerAddress: invalid address \"x\"")
			}
			return v, nil
		}
	}

	problems := map[string]string{}
	use, last := keepUsable("BGPPeer", nil, peers("a", "b"), translateAt(1, "b"), problems)
	if !slices.Equal(use, []int{1}) || problems["BGPPeer/b"] != `spec.peerAddress: invalid address "x"` || len(problems) != 1 {
		t.Fatalf("first pass: use %v, problems %v; want a's version 1 and b refused", use, problems)
	}

	problems = map[string]string{}
	use, last = keepUsable("BGPPeer", last, peers("a", "b"), translateAt(2, "a"), problems)
	if !slices.Equal(use, []int{1, 2}) || problems["BGPPeer/a"] != `spec.peerAddress: invalid address "x"; keeping the previous version` || len(problems) != 1 {
		t.Fatalf("second pass: use %v, problems %v; want a's previous version 1 kept, b's version 2", use, problems)
	}

	problems = map[string]string{}
	use, last = keepUsable("BGPPeer", last, peers("b"), translateAt(3), problems)
	if !slices.Equal(use, []int{3}) || len(problems) != 0 || len(last) != 1 {
		t.Fatalf("third pass: use %v, problems %v, kept %v; want b's version 3 and a forgotten", use, problems, last)
	}
	problems = map[string]string{}
	if use, _ = keepUsable("BGPPeer", last, peers("a"), translateAt(4, "a"), problems); len(use) != 0 || problems["BGPPeer/a"] == "" {
		t.Errorf("a deleted and recreated broken: use %v, problems %v; want it refused, its old version forgotten", use, problems)
	}
}

// The engine gets the sessions sorted by name, only those of peers it
// can open, and no path of a family the node has no next hop for.
func TestTheEnginePlanLeavesOutPathsWithoutANextHop(t *testing.T) {
	v4 := netip.MustParseAddr("198.18.0.10")
	v6 := netip.MustParseAddr("2001:db8:1::10")
	in := announce.Input{
		Node: announce.Node{Name: "n1"},
		Services: []announce.Service{{Key: "default/web", Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("2001:db8:100::1")},
			Endpoints: []announce.Endpoint{{Node: "n1", Ready: true, Serving: true}}}},
		Advertisements: []announce.Advertisement{{Name: "all"}},
		Peers:          []announce.Peer{{Name: "zulu", LocalASN: 1, PeerASN: 2}, {Name: "alpha", LocalASN: 1, PeerASN: 2}, {Name: "unknown", LocalASN: 1, PeerASN: 2}},
	}
	sessions := map[string]bgp.Peer{
		"zulu":  {Name: "zulu", NextHopIPv4: v4, NextHopIPv6: v6, Password: "pw"},
		"alpha": {Name: "alpha", NextHopIPv4: v4, GracefulRestart: bgp.GracefulRestart{Enabled: true}},
	}
	plan := planEngine(announce.Compute(in), sessions)
	var names []string
	for _, p := range plan.peers {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"alpha", "zulu"}) {
		t.Errorf("peers %v, want alpha and zulu in order", names)
	}
	prefixes := func(peer string) []string {
		var out []string
		for _, p := range plan.paths[peer] {
			out = append(out, p.Prefix.String())
		}
		slices.Sort(out)
		return out
	}
	if got := prefixes("alpha"); !slices.Equal(got, []string{"203.0.113.1/32"}) {
		t.Errorf("alpha (no IPv6 next hop) gets %v, want the IPv4 prefix only", got)
	}
	if got := prefixes("zulu"); !slices.Equal(got, []string{"2001:db8:100::1/128", "203.0.113.1/32"}) {
		t.Errorf("zulu gets %v, want both prefixes", got)
	}
	if want := map[string]peerFacts{"zulu": {password: true}, "alpha": {gracefulRestart: true}}; len(plan.facts) != 2 ||
		plan.facts["zulu"] != want["zulu"] || plan.facts["alpha"] != want["alpha"] {
		t.Errorf("facts %+v, want %+v", plan.facts, want)
	}
}

// Without events, the announcements change next at the rules' next change
// or at the end of the node's drain, whichever comes first, even when the
// node announces nothing; an ended drain changes nothing.
func TestTheNextChangeIsTheRulesOrTheDrainsEnd(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	draining := nodeDrain{reason: v1alpha1.DrainReasonAnnotation, since: now.Add(-time.Second), until: now.Add(time.Minute)}
	tests := []struct {
		name  string
		rules time.Time
		drain nodeDrain
		want  time.Time
	}{
		{"no drain, no change", time.Time{}, nodeDrain{}, time.Time{}},
		{"no drain: the rules' change", now.Add(time.Hour), nodeDrain{}, now.Add(time.Hour)},
		{"a drain of a node that announces nothing", time.Time{}, draining, now.Add(time.Minute)},
		{"the drain ends first", now.Add(time.Hour), draining, now.Add(time.Minute)},
		{"the rules change first", now.Add(time.Second), draining, now.Add(time.Second)},
		{"a drain that is over", time.Time{}, nodeDrain{reason: draining.reason, since: now.Add(-time.Hour), until: now.Add(-time.Minute)}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextChange(tt.rules, tt.drain, now); !got.Equal(tt.want) {
				t.Errorf("nextChange = %v, want %v", got, tt.want)
			}
		})
	}
}

// Only Services with addresses bgplb assigned are input; a release
// annotation that cannot be read is a problem of the Service, which is
// announced all the same; another node announcing a Service is noted.
func TestServiceInputs(t *testing.T) {
	service := func(name string, annotations map[string]string) corev1.Service {
		return corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Annotations: annotations},
			Spec:   corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.1"}}}}}
	}
	ours := map[string]string{v1alpha1.AnnotationAssignedPool: "lab"}
	badRelease := map[string]string{v1alpha1.AnnotationAssignedPool: "lab", v1alpha1.AnnotationReleaseHeldAdditions: "yesterday"}
	endpointsOn := func(service, node string) discoveryv1.EndpointSlice {
		return discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: service + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: service}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.1"}, NodeName: &node}}}
	}
	c := &cluster{
		services:  corev1.ServiceList{Items: []corev1.Service{service("web", ours), service("foreign", nil), service("released", badRelease)}},
		endpoints: discoveryv1.EndpointSliceList{Items: []discoveryv1.EndpointSlice{endpointsOn("web", "n2"), endpointsOn("released", "n2")}},
	}
	problems := map[string]string{}
	// Node n2, with an endpoint of either, is said to announce web only.
	got := serviceInputs(c, map[string][]string{"default/web": {"n2"}}, problems)
	if len(got) != 2 || got[0].Key != "default/web" || got[1].Key != "default/released" {
		t.Fatalf("inputs %+v, want web and released", got)
	}
	if !got[0].AnnouncedElsewhere || got[1].AnnouncedElsewhere {
		t.Errorf("announced elsewhere: web %v, released %v; want only web", got[0].AnnouncedElsewhere, got[1].AnnouncedElsewhere)
	}
	if len(problems) != 1 || problems["Service/default/released"] == "" {
		t.Errorf("problems %v, want one of Service/default/released", problems)
	}
}

// A BFD profile asking for passive mode is reported: the engine has none.
func TestAPassiveBFDProfileIsReported(t *testing.T) {
	problems := map[string]string{}
	bfdProblems([]v1alpha1.BFDProfile{{ObjectMeta: metav1.ObjectMeta{Name: "quiet"}, Spec: v1alpha1.BFDProfileSpec{PassiveMode: true}},
		{ObjectMeta: metav1.ObjectMeta{Name: "plain"}}}, problems)
	if len(problems) != 1 || problems["BFDProfile/quiet"] != translate.PassiveModeIgnored {
		t.Errorf("problems %v, want only BFDProfile/quiet's passive mode", problems)
	}
}
