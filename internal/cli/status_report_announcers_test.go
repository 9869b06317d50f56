package cli

import (
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
)

// TestBuildReportListsTheNodesAnnouncingAService checks which nodes count
// as announcing a Service and that a Service nobody announces is a problem.
func TestBuildReportListsTheNodesAnnouncingAService(t *testing.T) {
	const web = "shop/web"
	up := []v1alpha1.PeerSession{established("router-1")}
	runReportCases(t, []reportCase{
		{
			name: "a Local Service lists exactly the nodes with ready endpoints that report it Announced",
			in: statusInputs{
				Nodes: []corev1.Node{testNode("a"), testNode("b"), testNode("c"), testNode("d")},
				NodeStatuses: []v1alpha1.BGPNodeStatus{
					speakerStatus("a", up, announced(web)), speakerStatus("b", up, announced(web)),
					speakerStatus("c", up), speakerStatus("d", up),
				},
				Services:       []corev1.Service{lbService(web, corev1.ServiceExternalTrafficPolicyLocal, "203.0.113.10")},
				EndpointSlices: []discoveryv1.EndpointSlice{endpointSlice(web, ready("a"), ready("b"), ep{node: "c"})},
			},
			check: func(t *testing.T, r statusReport) {
				s := findService(t, r, web)
				if !reflect.DeepEqual(s.AnnouncedBy, []string{"a", "b"}) || !s.Announced {
					t.Errorf("announced by %v (announced %v), want [a b]", s.AnnouncedBy, s.Announced)
				}
				want := map[string]string{"c": reasonNoReadyEndpoint, "d": reasonNoReadyEndpoint}
				if got := notAnnouncing(s); !reflect.DeepEqual(got, want) {
					t.Errorf("not announcing %v, want %v", got, want)
				}
				if !r.Healthy || len(s.Warnings) > 0 {
					t.Errorf("healthy %v, problems %v, warnings %v; want a healthy report", r.Healthy, r.Problems, s.Warnings)
				}
			},
		},
		{
			name: "a Service nobody announces is flagged",
			in: statusInputs{
				Nodes:        []corev1.Node{testNode("a")},
				NodeStatuses: []v1alpha1.BGPNodeStatus{speakerStatus("a", up, held(web, later(time.Hour)))},
				Services:     []corev1.Service{lbService(web, corev1.ServiceExternalTrafficPolicyCluster, "203.0.113.10")},
			},
			check: func(t *testing.T, r statusReport) {
				s := findService(t, r, web)
				if s.Announced || len(s.AnnouncedBy) != 0 {
					t.Errorf("announced %v by %v, want by no node", s.Announced, s.AnnouncedBy)
				}
				if r.Healthy || !hasProblem(r, "Service shop/web is announced by no node") {
					t.Errorf("problems %v, want the Service flagged", r.Problems)
				}
				if got, want := notAnnouncing(s), map[string]string{"a": reasonHeld}; !reflect.DeepEqual(got, want) {
					t.Errorf("not announcing %v, want %v", got, want)
				}
			},
		},
		{
			name: "a Cluster Service lists the nodes announcing it and why the others do not",
			in: statusInputs{
				Nodes:        []corev1.Node{testNode("a"), testNode("b"), testNode("c", draining)},
				NodeStatuses: []v1alpha1.BGPNodeStatus{speakerStatus("b", up, announced(web)), speakerStatus("a", up, announced(web)), speakerStatus("c", up)},
				Services:     []corev1.Service{lbService(web, "", "203.0.113.10", "2001:db8:100::10")},
			},
			check: func(t *testing.T, r statusReport) {
				s := findService(t, r, web)
				if !reflect.DeepEqual(s.AnnouncedBy, []string{"a", "b"}) || s.ExternalTrafficPolicy != "Cluster" {
					t.Errorf("got %+v, want a Cluster Service announced by a and b", s)
				}
				if got, want := notAnnouncing(s), map[string]string{"c": reasonDraining}; !reflect.DeepEqual(got, want) {
					t.Errorf("not announcing %v, want %v", got, want)
				}
				if !reflect.DeepEqual(s.Addresses, []string{"203.0.113.10", "2001:db8:100::10"}) || s.Pool != "public" {
					t.Errorf("addresses %v from %q", s.Addresses, s.Pool)
				}
			},
		},
		{
			name: "a node that finishes the connections of a Service it no longer announces says so",
			in: statusInputs{
				Nodes: []corev1.Node{testNode("a"), testNode("b")},
				NodeStatuses: []v1alpha1.BGPNodeStatus{speakerStatus("a", up, announced(web)),
					speakerStatus("b", up, v1alpha1.ServiceAnnouncement{Name: web, State: v1alpha1.AnnouncementFinishing})},
				Services: []corev1.Service{lbService(web, "", "203.0.113.10")},
			},
			check: func(t *testing.T, r statusReport) {
				s := findService(t, r, web)
				if got, want := notAnnouncing(s), map[string]string{"b": reasonFinishing}; !reflect.DeepEqual(got, want) {
					t.Errorf("not announcing %v, want %v", got, want)
				}
			},
		},
	})
}

// TestBuildReportSaysWhyANodeDoesNotAnnounce checks the reasons given for a
// node that does not announce a Service, other than drains and endpoints.
func TestBuildReportSaysWhyANodeDoesNotAnnounce(t *testing.T) {
	const web = "shop/web"
	up := []v1alpha1.PeerSession{established("router-1")}
	runReportCases(t, []reportCase{
		{
			name: "a node with a ready endpoint that holds the Service back shows held until its time",
			in: statusInputs{
				Nodes:          []corev1.Node{testNode("a"), testNode("b")},
				NodeStatuses:   []v1alpha1.BGPNodeStatus{speakerStatus("a", up, announced(web)), speakerStatus("b", up, held(web, later(12*time.Minute)))},
				Services:       []corev1.Service{lbService(web, corev1.ServiceExternalTrafficPolicyLocal, "203.0.113.10")},
				EndpointSlices: []discoveryv1.EndpointSlice{endpointSlice(web, ready("a"), ready("b"))},
			},
			check: func(t *testing.T, r statusReport) {
				s := findService(t, r, web)
				until := statusNow.Add(12 * time.Minute)
				since := statusNow.Add(-time.Minute)
				if want := []heldReport{{Node: "b", Since: &since, Until: &until}}; !reflect.DeepEqual(s.Held, want) {
					t.Errorf("held %+v, want %+v", s.Held, want)
				}
				if want := []notAnnouncingReport{{Node: "b", Reasons: []string{reasonHeld}, HeldUntil: &until}}; !reflect.DeepEqual(s.NotAnnouncing, want) {
					t.Errorf("not announcing %+v, want %+v", s.NotAnnouncing, want)
				}
				if !r.Healthy {
					t.Errorf("a held addition is intended, not a problem: %v", r.Problems)
				}
			},
		},
		{
			name: "a node without speaker status says so, as does one whose speaker is not up",
			in: statusInputs{
				Nodes: []corev1.Node{testNode("a"), testNode("b"), testNode("c"), testNode("d")},
				NodeStatuses: []v1alpha1.BGPNodeStatus{speakerStatus("a", up, announced(web)),
					speakerStatus("c", []v1alpha1.PeerSession{{Peer: "router-1", State: "Active"}}), speakerStatus("d", up)},
				Services:       []corev1.Service{lbService(web, corev1.ServiceExternalTrafficPolicyLocal, "203.0.113.10")},
				EndpointSlices: []discoveryv1.EndpointSlice{endpointSlice(web, ready("a"), ready("b"), ready("c"), ready("d"))},
			},
			check: func(t *testing.T, r statusReport) {
				want := map[string]string{"b": reasonNoSpeakerStatus, "c": reasonNoSession, "d": reasonNotReported}
				if got := notAnnouncing(findService(t, r, web)); !reflect.DeepEqual(got, want) {
					t.Errorf("not announcing %v, want %v", got, want)
				}
				if r.Nodes[1].Name != "b" || r.Nodes[1].SpeakerStatus {
					t.Errorf("nodes %+v: want b without speaker status", r.Nodes)
				}
			},
		},
		{
			name: "a node whose every session is down announces to no router, whatever its status lists",
			in: statusInputs{
				Nodes: []corev1.Node{testNode("a"), testNode("b")},
				NodeStatuses: []v1alpha1.BGPNodeStatus{speakerStatus("a", up, announced(web)),
					speakerStatus("b", []v1alpha1.PeerSession{{Peer: "router-1", State: "Active"}}, announced(web))},
				Services:       []corev1.Service{lbService(web, "", "203.0.113.10")},
				EndpointSlices: []discoveryv1.EndpointSlice{endpointSlice(web, ready("a"))},
			},
			check: func(t *testing.T, r statusReport) {
				s := findService(t, r, web)
				if !reflect.DeepEqual(s.AnnouncedBy, []string{"a"}) {
					t.Errorf("announced by %v, want [a]", s.AnnouncedBy)
				}
				if want := map[string]string{"b": reasonNoSession}; !reflect.DeepEqual(notAnnouncing(s), want) {
					t.Errorf("not announcing %v, want %v", notAnnouncing(s), want)
				}
			},
		},
		{
			name: "a node without an endpoint gives every reason that applies",
			in: statusInputs{
				Nodes:          []corev1.Node{testNode("a"), testNode("b", draining)},
				NodeStatuses:   []v1alpha1.BGPNodeStatus{speakerStatus("a", up, announced(web))},
				Services:       []corev1.Service{lbService(web, corev1.ServiceExternalTrafficPolicyLocal, "203.0.113.10")},
				EndpointSlices: []discoveryv1.EndpointSlice{endpointSlice(web, ready("a"))},
			},
			check: func(t *testing.T, r statusReport) {
				want := map[string]string{"b": "no ready endpoint, no speaker status, draining"}
				if got := notAnnouncing(findService(t, r, web)); !reflect.DeepEqual(got, want) {
					t.Errorf("not announcing %v, want %v", got, want)
				}
			},
		},
	})
}

// TestBuildReportDrains checks which nodes drain, and why, from the exclude
// label, the drain annotation, cordons and the speakers' Draining state.
func TestBuildReportDrains(t *testing.T) {
	const web = "shop/web"
	up := []v1alpha1.PeerSession{established("router-1")}
	runReportCases(t, []reportCase{
		{
			name: "a node whose paths drain is not counted as announcing",
			in: statusInputs{
				Nodes:          []corev1.Node{testNode("a"), testNode("b")},
				NodeStatuses:   []v1alpha1.BGPNodeStatus{speakerStatus("a", up, announced(web)), speakerStatus("b", up, v1alpha1.ServiceAnnouncement{Name: web, State: v1alpha1.AnnouncementDraining})},
				Services:       []corev1.Service{lbService(web, corev1.ServiceExternalTrafficPolicyLocal, "203.0.113.10")},
				EndpointSlices: []discoveryv1.EndpointSlice{endpointSlice(web, ready("a"), ready("b"))},
			},
			check: func(t *testing.T, r statusReport) {
				s := findService(t, r, web)
				if !reflect.DeepEqual(s.AnnouncedBy, []string{"a"}) {
					t.Errorf("announced by %v, want [a]", s.AnnouncedBy)
				}
				if got, want := notAnnouncing(s), map[string]string{"b": "draining"}; !reflect.DeepEqual(got, want) {
					t.Errorf("not announcing %v, want %v", got, want)
				}
			},
		},
		{
			name: "excluded, draining and cordoned nodes with ready endpoints say so",
			in: statusInputs{
				Nodes: []corev1.Node{testNode("a"), testNode("e", excluded), testNode("f", draining), testNode("g", cordoned, labelled("rack", "1")),
					testNode("h", excluded, draining)},
				NodeStatuses: []v1alpha1.BGPNodeStatus{speakerStatus("a", up, announced(web)), speakerStatus("e", up),
					speakerStatus("f", up), speakerStatus("g", up), speakerStatus("h", up)},
				Services:       []corev1.Service{lbService(web, corev1.ServiceExternalTrafficPolicyLocal, "203.0.113.10")},
				EndpointSlices: []discoveryv1.EndpointSlice{endpointSlice(web, ready("a"), ready("e"), ready("f"), ready("g"), ready("h"))},
				Advertisements: []v1alpha1.BGPAdvertisement{advertisement("maintenance", true)},
			},
			check: func(t *testing.T, r statusReport) {
				s := findService(t, r, web)
				want := map[string]string{"e": "excluded", "f": "draining", "g": "cordoned", "h": "excluded, draining"}
				if got := notAnnouncing(s); !reflect.DeepEqual(got, want) {
					t.Errorf("not announcing %v, want %v", got, want)
				}
				if g := s.NotAnnouncing[2]; g.Node != "g" || !reflect.DeepEqual(g.DrainOnCordonBy, []string{"maintenance"}) {
					t.Errorf("node g: %+v, want it drained on cordon by advertisement maintenance", g)
				}
				if !r.Healthy {
					t.Errorf("drains are intended, not problems: %q", r.Problems)
				}
			},
		},
		{
			name: "a node drains for the exclude label, the drain annotation, or a cordon that an advertisement applying to it drains on",
			in: statusInputs{
				Nodes: []corev1.Node{testNode("plain"), testNode("excluded", excluded), testNode("annotated", draining),
					testNode("cordoned-rack-1", cordoned, labelled("rack", "1")), testNode("cordoned-rack-2", cordoned, labelled("rack", "2"))},
				Advertisements: []v1alpha1.BGPAdvertisement{
					advertisement("everywhere", false), advertisement("rack-1", true, "rack", "1"), advertisement("all-racks", true),
					func() v1alpha1.BGPAdvertisement {
						// The speakers cannot use it, so it drains nothing.
						a := advertisement("broken", true)
						a.Spec.Communities = []v1alpha1.Community{"not-a-community"}
						return a
					}(),
				},
			},
			check: func(t *testing.T, r statusReport) {
				type drain struct {
					draining bool
					by       []string
				}
				got := map[string]drain{}
				for _, n := range r.Nodes {
					got[n.Name] = drain{n.Draining, n.DrainOnCordonBy}
				}
				want := map[string]drain{
					"plain": {}, "excluded": {draining: true}, "annotated": {draining: true},
					"cordoned-rack-1": {true, []string{"all-racks", "rack-1"}}, "cordoned-rack-2": {true, []string{"all-racks"}},
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("drains %+v, want %+v", got, want)
				}
			},
		},
		{
			name: "a cordon drains nothing without an advertisement that drains on cordon, and only the Services such advertisements select",
			in: statusInputs{
				Nodes: []corev1.Node{testNode("a"), testNode("cordoned", cordoned)},
				NodeStatuses: []v1alpha1.BGPNodeStatus{speakerStatus("a", up, announced(web), announced("shop/private")),
					speakerStatus("cordoned", up)},
				Services: []corev1.Service{lbService(web, "", "203.0.113.10"), func() corev1.Service {
					s := lbService("shop/private", "", "198.51.100.10")
					s.Annotations[v1alpha1.AnnotationAssignedPool] = "private"
					return s
				}()},
				Pools: []v1alpha1.IPPool{testPool("public", nil, nil, acceptedTrue), testPool("private", nil, nil, acceptedTrue)},
				Advertisements: []v1alpha1.BGPAdvertisement{advertisement("all", false), func() v1alpha1.BGPAdvertisement {
					a := advertisement("public-maintenance", true)
					a.Spec.IPPools = []string{"public"}
					return a
				}()},
			},
			check: func(t *testing.T, r statusReport) {
				if got, want := notAnnouncing(findService(t, r, web)), map[string]string{"cordoned": reasonCordoned}; !reflect.DeepEqual(got, want) {
					t.Errorf("public Service: not announcing %v, want %v", got, want)
				}
				if got, want := notAnnouncing(findService(t, r, "shop/private")), map[string]string{"cordoned": reasonNotReported}; !reflect.DeepEqual(got, want) {
					t.Errorf("private Service: not announcing %v, want %v: no advertisement drains it on cordon", got, want)
				}
			},
		},
		{
			name: "a node whose speaker reports the Service Draining says why from its Node",
			in: statusInputs{
				Nodes: []corev1.Node{testNode("a"), testNode("cordoned", cordoned), testNode("excluded", excluded), testNode("plain")},
				NodeStatuses: []v1alpha1.BGPNodeStatus{speakerStatus("a", up, announced(web)),
					speakerStatus("cordoned", up, drainingService(web)), speakerStatus("excluded", up, drainingService(web)),
					speakerStatus("plain", up, drainingService(web))},
				Services:       []corev1.Service{lbService(web, "", "203.0.113.10")},
				Advertisements: []v1alpha1.BGPAdvertisement{advertisement("maintenance", true)},
			},
			check: func(t *testing.T, r statusReport) {
				want := map[string]string{"cordoned": reasonCordoned, "excluded": reasonExcluded, "plain": reasonDraining}
				if got := notAnnouncing(findService(t, r, web)); !reflect.DeepEqual(got, want) {
					t.Errorf("not announcing %v, want %v", got, want)
				}
			},
		},
	})
}

// TestBuildReportCountsEndpointsAsSpeakersDo checks that the endpoints a
// report counts for a Service are the ones speakers count.
func TestBuildReportCountsEndpointsAsSpeakersDo(t *testing.T) {
	const web = "shop/web"
	up := []v1alpha1.PeerSession{established("router-1")}
	runReportCases(t, []reportCase{
		{
			name: "a Cluster Service without any endpoint is announced by no node, for that reason",
			in: statusInputs{
				Nodes:          []corev1.Node{testNode("a"), testNode("b")},
				NodeStatuses:   []v1alpha1.BGPNodeStatus{speakerStatus("a", up), speakerStatus("b", up)},
				Services:       []corev1.Service{lbService(web, "", "203.0.113.10")},
				EndpointSlices: []discoveryv1.EndpointSlice{endpointSlice(web, ep{node: "a"})},
			},
			check: func(t *testing.T, r statusReport) {
				want := map[string]string{"a": reasonNoReadyEndpoint, "b": reasonNoReadyEndpoint}
				if got := notAnnouncing(findService(t, r, web)); !reflect.DeepEqual(got, want) {
					t.Errorf("not announcing %v, want %v", got, want)
				}
				if want := []string{"Service shop/web is announced by no node: it has no ready endpoint"}; !reflect.DeepEqual(r.Problems, want) {
					t.Errorf("problems %q, want %q", r.Problems, want)
				}
			},
		},
		{
			name: "serving endpoints count while no endpoint of the Service is ready, as speakers count them",
			in: statusInputs{
				Nodes:          []corev1.Node{testNode("a"), testNode("b")},
				NodeStatuses:   []v1alpha1.BGPNodeStatus{speakerStatus("a", up, announced(web)), speakerStatus("b", up)},
				Services:       []corev1.Service{lbService(web, corev1.ServiceExternalTrafficPolicyLocal, "203.0.113.10")},
				EndpointSlices: []discoveryv1.EndpointSlice{endpointSlice(web, ep{node: "a", serving: true}, ep{node: "b"})},
			},
			check: func(t *testing.T, r statusReport) {
				s := findService(t, r, web)
				if want := map[string]string{"b": reasonNoReadyEndpoint}; !reflect.DeepEqual(notAnnouncing(s), want) || len(s.Warnings) > 0 {
					t.Errorf("not announcing %v, warnings %v; want b without endpoint and no warning", notAnnouncing(s), s.Warnings)
				}
			},
		},
		{
			name: "endpoints of a Service of the same name in another namespace do not count",
			in: statusInputs{
				Nodes:          []corev1.Node{testNode("a")},
				NodeStatuses:   []v1alpha1.BGPNodeStatus{speakerStatus("a", up, announced(web))},
				Services:       []corev1.Service{lbService(web, corev1.ServiceExternalTrafficPolicyLocal, "203.0.113.10")},
				EndpointSlices: []discoveryv1.EndpointSlice{endpointSlice("dev/web", ready("a"))},
			},
			check: func(t *testing.T, r statusReport) {
				s := findService(t, r, web)
				if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "node a announces the Local Service without a ready endpoint") {
					t.Errorf("warnings %v, want one about node a", s.Warnings)
				}
			},
		},
	})
}
