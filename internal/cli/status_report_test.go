package cli

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
)

var statusNow = time.Date(2026, 11, 24, 7, 0, 0, 0, time.UTC)

func ago(d time.Duration) *metav1.Time {
	t := metav1.NewTime(statusNow.Add(-d))
	return &t
}

func later(d time.Duration) *metav1.Time { return ago(-d) }

// nodeOpt changes a test Node.
type nodeOpt func(*corev1.Node)

func excluded(n *corev1.Node) { n.Labels = map[string]string{announce.ExcludeLabel: ""} }
func draining(n *corev1.Node) { n.Annotations = map[string]string{v1alpha1.AnnotationDrain: "true"} }
func cordoned(n *corev1.Node) { n.Spec.Unschedulable = true }

// labelled gives a test Node a label.
func labelled(key, value string) nodeOpt {
	return func(n *corev1.Node) {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[key] = value
	}
}

// advertisement is a BGPAdvertisement of every pool, draining on cordon or
// not, and limited to nodes with the label key=value when they are given.
func advertisement(name string, drainOnCordon bool, keyValue ...string) v1alpha1.BGPAdvertisement {
	a := v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.BGPAdvertisementSpec{DrainOnCordon: drainOnCordon}}
	if len(keyValue) == 2 {
		a.Spec.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{keyValue[0]: keyValue[1]}}}
	}
	return a
}

func testNode(name string, opts ...nodeOpt) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, o := range opts {
		o(&n)
	}
	return n
}

// established is a session up for an hour.
func established(peer string) v1alpha1.PeerSession {
	return v1alpha1.PeerSession{Peer: peer, PeerAddress: "198.18.0.1", State: "Established", Since: ago(time.Hour),
		PrefixesSent: 2, BFD: "Up", GracefulRestart: true}
}

// refusing gives a speaker status a ConfigurationValid condition that is
// False with message.
func refusing(st v1alpha1.BGPNodeStatus, message string) v1alpha1.BGPNodeStatus {
	st.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionConfigurationValid, Status: metav1.ConditionFalse,
		Reason: v1alpha1.ReasonKeepingLastValid, Message: message}}
	return st
}

// withBFD sets a session's BFD state.
func withBFD(s v1alpha1.PeerSession, state string) v1alpha1.PeerSession {
	s.BFD = state
	return s
}

// bgpPeer is a BGPPeer asking for bfdProfile, or for no BFD when empty.
func bgpPeer(name, bfdProfile string) v1alpha1.BGPPeer {
	return v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.BGPPeerSpec{BFDProfile: bfdProfile}}
}

func announced(svc string) v1alpha1.ServiceAnnouncement {
	return v1alpha1.ServiceAnnouncement{Name: svc, State: v1alpha1.AnnouncementAnnounced}
}

func drainingService(svc string) v1alpha1.ServiceAnnouncement {
	return v1alpha1.ServiceAnnouncement{Name: svc, State: v1alpha1.AnnouncementDraining}
}

// pendingService is a LoadBalancer Service of class (nil for none) that
// has no address yet.
func pendingService(key string, class *string) corev1.Service {
	s := lbService(key, "")
	s.Annotations = nil
	s.Spec.LoadBalancerClass = class
	return s
}

// allocationFailed is the bgplb controller's AllocationFailed Event about a
// Service, last seen ago before statusNow.
func allocationFailed(key, note string, ago time.Duration) eventsv1.Event {
	ns, name, _ := strings.Cut(key, "/")
	return eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "." + note},
		EventTime:  metav1.NewMicroTime(statusNow.Add(-ago)),
		Reason:     v1alpha1.EventReasonAllocationFailed, ReportingController: v1alpha1.EventReportingController,
		Regarding: corev1.ObjectReference{Kind: "Service", Namespace: ns, Name: name},
		Note:      note, Type: corev1.EventTypeWarning,
	}
}

func held(svc string, until *metav1.Time) v1alpha1.ServiceAnnouncement {
	return v1alpha1.ServiceAnnouncement{Name: svc, State: v1alpha1.AnnouncementHeld, HeldSince: ago(time.Minute), HeldUntil: until}
}

func speakerStatus(node string, sessions []v1alpha1.PeerSession, services ...v1alpha1.ServiceAnnouncement) v1alpha1.BGPNodeStatus {
	return v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: node},
		Status: v1alpha1.BGPNodeStatusStatus{Sessions: sessions, Services: services}}
}

// lbService is a LoadBalancer Service that the controller gave addrs from
// pool "public".
func lbService(key string, policy corev1.ServiceExternalTrafficPolicy, addrs ...string) corev1.Service {
	ns, name, _ := strings.Cut(key, "/")
	s := corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{v1alpha1.AnnotationAssignedPool: "public"}},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: policy},
	}
	for _, a := range addrs {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: a})
	}
	return s
}

// ep is an endpoint on a node; ready and serving are its conditions.
type ep struct {
	node           string
	ready, serving bool
}

func endpointSlice(key string, eps ...ep) discoveryv1.EndpointSlice {
	ns, name, _ := strings.Cut(key, "/")
	es := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-x",
		Labels: map[string]string{discoveryv1.LabelServiceName: name}}, AddressType: discoveryv1.AddressTypeIPv4}
	for _, e := range eps {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}, NodeName: &e.node,
			Conditions: discoveryv1.EndpointConditions{Ready: &e.ready, Serving: &e.serving}})
	}
	return es
}

func ready(node string) ep { return ep{node: node, ready: true, serving: true} }

func testPool(name string, v4, v6 *v1alpha1.FamilyUsage, accepted *metav1.Condition) v1alpha1.IPPool {
	p := v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}}
	p.Status.IPv4, p.Status.IPv6 = v4, v6
	if accepted != nil {
		p.Status.Conditions = []metav1.Condition{*accepted}
	}
	return p
}

var acceptedTrue = &metav1.Condition{Type: v1alpha1.ConditionAccepted, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonAccepted}

func notAnnouncing(r serviceReport) map[string]string {
	out := map[string]string{}
	for _, n := range r.NotAnnouncing {
		out[n.Node] = strings.Join(n.Reasons, ", ")
	}
	return out
}

func findService(t *testing.T, r statusReport, name string) serviceReport {
	t.Helper()
	for _, s := range r.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no Service %s in the report: %+v", name, r.Services)
	return serviceReport{}
}

func hasProblem(r statusReport, substr string) bool {
	return slices.ContainsFunc(r.Problems, func(p string) bool { return strings.Contains(p, substr) })
}

func TestBuildReport(t *testing.T) {
	const web = "shop/web"
	up := []v1alpha1.PeerSession{established("router-1")}
	tests := []struct {
		name  string
		in    statusInputs
		check func(t *testing.T, r statusReport)
	}{
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
			name: "a Service without an address is reported pending with the controller's reason, and is a problem",
			in: statusInputs{
				Nodes:        []corev1.Node{testNode("a")},
				NodeStatuses: []v1alpha1.BGPNodeStatus{speakerStatus("a", up)},
				Services:     []corev1.Service{pendingService("shop/new", nil)},
				Events: []eventsv1.Event{
					allocationFailed("shop/new", "pool \"public\" has no IPv4 addresses", 10*time.Minute),
					func() eventsv1.Event {
						// First seen half an hour ago, and again since.
						e := allocationFailed("shop/new", "no address pools are configured", 30*time.Minute)
						e.Series = &eventsv1.EventSeries{Count: 4, LastObservedTime: metav1.NewMicroTime(statusNow.Add(-3 * time.Minute))}
						return e
					}(),
				},
			},
			check: func(t *testing.T, r statusReport) {
				s := findService(t, r, "shop/new")
				at := statusNow.Add(-3 * time.Minute)
				if !s.Pending || s.PendingReason != "no address pools are configured" || !reflect.DeepEqual(s.PendingReasonAt, &at) {
					t.Errorf("got %+v, want pending for the latest Event's note, seen 3 minutes ago", s)
				}
				if s.Announced || s.NotAnnouncing != nil {
					t.Errorf("got %+v: nothing to announce, so no node reasons", s)
				}
				if want := []string{"Service shop/new has no address: no address pools are configured"}; !reflect.DeepEqual(r.Problems, want) {
					t.Errorf("problems %q, want %q", r.Problems, want)
				}
			},
		},
		{
			name: "a Service without an address and without an Event says that nothing explains it",
			in:   statusInputs{Services: []corev1.Service{pendingService("shop/new", nil)}},
			check: func(t *testing.T, r statusReport) {
				if s := findService(t, r, "shop/new"); !s.Pending || s.PendingReason != "" || s.PendingReasonAt != nil {
					t.Errorf("got %+v, want pending without a reason", s)
				}
				want := []string{"Service shop/new has no address: no AllocationFailed Event of the bgplb controller says why " +
					"(is the controller running and serving the Service's load balancer class? its Events expire after an hour)"}
				if !reflect.DeepEqual(r.Problems, want) {
					t.Errorf("problems %q, want %q", r.Problems, want)
				}
			},
		},
		{
			name: "Services without an address are bgplb's when of its class or when its controller reported on them",
			in: statusInputs{
				LoadBalancerClass: "bgplb.io/lb",
				Services: []corev1.Service{pendingService("shop/ours", ptr("bgplb.io/lb")), pendingService("shop/classless", nil),
					pendingService("shop/reported", ptr("example.com/other")), pendingService("shop/others", ptr("example.com/other")),
					func() corev1.Service {
						s := pendingService("shop/recreated", nil)
						s.UID = "new"
						return s
					}()},
				Events: []eventsv1.Event{
					allocationFailed("shop/reported", "no suitable pool", time.Minute),
					func() eventsv1.Event {
						e := allocationFailed("shop/others", "no address", time.Minute)
						e.ReportingController = "other-controller"
						return e
					}(),
					func() eventsv1.Event {
						e := allocationFailed("shop/recreated", "no address", time.Minute)
						e.Regarding.UID = "old"
						return e
					}(),
				},
			},
			check: func(t *testing.T, r statusReport) {
				var names []string
				for _, s := range r.Services {
					names = append(names, s.Name+": "+s.PendingReason)
				}
				if want := []string{"shop/ours: ", "shop/reported: no suitable pool"}; !reflect.DeepEqual(names, want) {
					t.Errorf("Services %q, want %q", names, want)
				}
			},
		},
		{
			name: "only LoadBalancer Services that bgplb assigned are reported, sorted",
			in: func() statusInputs {
				other := lbService("shop/other-lb", "", "198.51.100.1")
				other.Annotations = nil
				clusterIP := lbService("shop/internal", "")
				clusterIP.Spec.Type = corev1.ServiceTypeClusterIP
				return statusInputs{Services: []corev1.Service{lbService("shop/z", "", "203.0.113.2"), other, clusterIP,
					lbService("dev/a", "", "203.0.113.1")}}
			}(),
			check: func(t *testing.T, r statusReport) {
				var names []string
				for _, s := range r.Services {
					names = append(names, s.Name)
				}
				if want := []string{"dev/a", "shop/z"}; !reflect.DeepEqual(names, want) {
					t.Errorf("Services %v, want %v", names, want)
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
		{
			name: "the namespace filter leaves out other namespaces' Services",
			in: statusInputs{Namespace: "dev",
				Services: []corev1.Service{lbService(web, "", "203.0.113.10"), lbService("dev/api", "", "203.0.113.11")}},
			check: func(t *testing.T, r statusReport) {
				if len(r.Services) != 1 || r.Services[0].Name != "dev/api" || r.Namespace != "dev" {
					t.Errorf("Services %+v, want dev/api only", r.Services)
				}
			},
		},
		{
			name: "sessions report their state, time in it and attributes, sorted by node and peer; only Established ones are healthy",
			in: statusInputs{
				Nodes: []corev1.Node{testNode("a"), testNode("b")},
				NodeStatuses: []v1alpha1.BGPNodeStatus{
					speakerStatus("b", []v1alpha1.PeerSession{{Peer: "router-2", PeerAddress: "198.18.0.2", State: "Active", Since: ago(5 * time.Minute),
						BFD: "Down", LastError: "hold timer expired"}}),
					speakerStatus("a", []v1alpha1.PeerSession{established("router-2"), {Peer: "router-1", State: "Idle"}}),
				},
			},
			check: func(t *testing.T, r statusReport) {
				hour, fiveMin := statusNow.Add(-time.Hour), statusNow.Add(-5*time.Minute)
				s3600, s300 := int64(3600), int64(300)
				want := []sessionReport{
					{Node: "a", Peer: "router-1", State: "Idle"},
					{Node: "a", Peer: "router-2", PeerAddress: "198.18.0.1", State: "Established", Established: true, Since: &hour, Seconds: &s3600,
						PrefixesSent: ptr(int32(2)), BFD: "Up", GracefulRestart: true},
					{Node: "b", Peer: "router-2", PeerAddress: "198.18.0.2", State: "Active", Since: &fiveMin, Seconds: &s300,
						LastError: "hold timer expired"},
				}
				if !reflect.DeepEqual(r.Sessions, want) {
					t.Errorf("sessions\n%+v\nwant\n%+v", r.Sessions, want)
				}
				wantProblems := []string{"session a to router-1 is Idle", "session b to router-2 is Active: hold timer expired"}
				if !reflect.DeepEqual(r.Problems, wantProblems) || r.Healthy {
					t.Errorf("problems %q, want %q", r.Problems, wantProblems)
				}
				if r.Nodes[0].Sessions != 2 || r.Nodes[0].Established != 1 {
					t.Errorf("node a: %+v, want 1 of 2 sessions Established", r.Nodes[0])
				}
			},
		},
		{
			name: "a session that is down shows no prefix count and no BFD state, whatever its speaker last saw",
			in: statusInputs{
				Peers: []v1alpha1.BGPPeer{bgpPeer("router-1", "fast")},
				NodeStatuses: []v1alpha1.BGPNodeStatus{speakerStatus("a", []v1alpha1.PeerSession{{Peer: "router-1", State: "Idle",
					Since: ago(time.Minute), PrefixesSent: 7, BFD: "Up", GracefulRestart: true, LastError: "hold timer expired"}})},
			},
			check: func(t *testing.T, r statusReport) {
				s := r.Sessions[0]
				if s.PrefixesSent != nil || s.BFD != "" || s.Established {
					t.Errorf("session %+v: want no prefix count and no BFD state while Idle", s)
				}
				if s.BFDProfile != "fast" || s.LastError != "hold timer expired" {
					t.Errorf("session %+v: want the peer's BFD profile and the last error kept", s)
				}
				if want := []string{"session a to router-1 is Idle: hold timer expired"}; !reflect.DeepEqual(r.Problems, want) {
					t.Errorf("problems %q, want %q: a down session is one problem, not a BFD one too", r.Problems, want)
				}
			},
		},
		{
			name: "an Established session whose peer asks for BFD and whose BFD session is not Up is a problem naming the profile",
			in: statusInputs{
				Peers: []v1alpha1.BGPPeer{bgpPeer("router-1", "fast"), bgpPeer("router-2", "slow"), bgpPeer("router-3", "")},
				NodeStatuses: []v1alpha1.BGPNodeStatus{
					speakerStatus("node-0", []v1alpha1.PeerSession{
						withBFD(established("router-1"), "Down"), withBFD(established("router-2"), "Up"), withBFD(established("router-3"), ""),
					}),
					speakerStatus("node-1", []v1alpha1.PeerSession{withBFD(established("router-1"), "Init"), withBFD(established("gone"), "AdminDown")}),
				},
			},
			check: func(t *testing.T, r statusReport) {
				want := []string{
					"session node-0 to router-1: BFD is Down although the peer asks for BFD profile fast",
					"session node-1 to gone: BFD is AdminDown although the peer asks for BFD",
					"session node-1 to router-1: BFD is Init although the peer asks for BFD profile fast",
				}
				if !reflect.DeepEqual(r.Problems, want) {
					t.Errorf("problems\n%q\nwant\n%q", r.Problems, want)
				}
				if s := r.Sessions[0]; s.BFD != "Down" || s.BFDProfile != "fast" || s.PrefixesSent == nil || *s.PrefixesSent != 2 {
					t.Errorf("session %+v: want BFD Down under profile fast and 2 prefixes sent", s)
				}
			},
		},
		{
			name: "a session whose state began after the objects were read has been in it for no time",
			in:   statusInputs{NodeStatuses: []v1alpha1.BGPNodeStatus{speakerStatus("a", []v1alpha1.PeerSession{{Peer: "r", State: "Established", Since: later(2 * time.Second)}})}},
			check: func(t *testing.T, r statusReport) {
				if s := r.Sessions[0]; s.Seconds == nil || *s.Seconds != 0 {
					t.Errorf("seconds %v, want 0", s.Seconds)
				}
			},
		},
		{
			name: "a node whose speaker refuses some configuration is a problem quoting the condition",
			in:   statusInputs{NodeStatuses: []v1alpha1.BGPNodeStatus{refusing(speakerStatus("a", up), `BGPPeer/r1: spec.peerAddress: invalid address "x"`)}},
			check: func(t *testing.T, r statusReport) {
				const msg = `BGPPeer/r1: spec.peerAddress: invalid address "x"`
				if r.Nodes[0].ConfigurationInvalid != msg {
					t.Errorf("node %+v, want the condition's message", r.Nodes[0])
				}
				if want := []string{"speaker configuration invalid on node a: " + msg}; !reflect.DeepEqual(r.Problems, want) {
					t.Errorf("problems %q, want %q", r.Problems, want)
				}
				if !r.Nodes[0].NodeMissing {
					t.Errorf("a status without its Node should say the node is missing")
				}
			},
		},
		{
			name: "a configuration problem that several nodes report is listed once, naming the nodes or every node",
			in: statusInputs{
				Nodes: []corev1.Node{testNode("a"), testNode("b"), testNode("c"), testNode("d")},
				NodeStatuses: []v1alpha1.BGPNodeStatus{
					refusing(speakerStatus("a", up), `BGPAdvertisement/weird: spec.communities[0]: invalid community "x"; keeping the previous version`),
					refusing(speakerStatus("b", up), `BGPAdvertisement/weird: spec.communities[0]: invalid community "x"; keeping the previous version; `+
						`BGPPeer/r2: spec.passwordSecret: Secret "s" has no key "k"`),
					refusing(speakerStatus("c", up), `BGPAdvertisement/weird: spec.communities[0]: invalid community "x"; keeping the previous version; `+
						`BGPPeer/r2: spec.passwordSecret: Secret "s" has no key "k"`),
				},
			},
			check: func(t *testing.T, r statusReport) {
				const adv = `BGPAdvertisement/weird: spec.communities[0]: invalid community "x"; keeping the previous version`
				const peer = `BGPPeer/r2: spec.passwordSecret: Secret "s" has no key "k"`
				want := []configurationProblem{
					{Problem: adv, Nodes: []string{"a", "b", "c"}, EveryNode: true},
					{Problem: peer, Nodes: []string{"b", "c"}},
				}
				if !reflect.DeepEqual(r.ConfigurationProblems, want) {
					t.Errorf("configuration problems\n%+v\nwant\n%+v", r.ConfigurationProblems, want)
				}
				wantProblems := []string{"speaker configuration invalid on every node: " + adv, "speaker configuration invalid on nodes b, c: " + peer}
				if !reflect.DeepEqual(r.Problems, wantProblems) {
					t.Errorf("problems\n%q\nwant\n%q", r.Problems, wantProblems)
				}
			},
		},
		{
			name: "a problem that the only speaker reports is not said to be every node's",
			in: statusInputs{
				Nodes:        []corev1.Node{testNode("a"), testNode("b")},
				NodeStatuses: []v1alpha1.BGPNodeStatus{refusing(speakerStatus("a", up), `BFDProfile/fast: spec.passiveMode: no passive mode`)},
			},
			check: func(t *testing.T, r statusReport) {
				if want := []string{"speaker configuration invalid on node a: BFDProfile/fast: spec.passiveMode: no passive mode"}; !reflect.DeepEqual(r.Problems, want) {
					t.Errorf("problems %q, want %q", r.Problems, want)
				}
			},
		},
		{
			name: "pools report each family's usage and whether they are accepted, one problem per pool",
			in: statusInputs{Pools: []v1alpha1.IPPool{
				testPool("public", &v1alpha1.FamilyUsage{Assigned: 2, Available: 254}, &v1alpha1.FamilyUsage{Assigned: 1, Available: 1<<63 - 1}, acceptedTrue),
				testPool("broken", &v1alpha1.FamilyUsage{Assigned: 0, Available: 10}, &v1alpha1.FamilyUsage{Assigned: 0, Available: 10},
					&metav1.Condition{Type: v1alpha1.ConditionAccepted, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonOverlap, Message: "overlaps pool public"}),
				testPool("new", nil, nil, nil),
			}},
			check: func(t *testing.T, r statusReport) {
				const unknown = "no Accepted condition yet (is the controller running?)"
				want := []poolReport{
					{Name: "broken", Family: "IPv4", Available: "10", Total: "10", Message: "overlaps pool public"},
					{Name: "broken", Family: "IPv6", Available: "10", Total: "10", Message: "overlaps pool public"},
					{Name: "new", Message: unknown},
					{Name: "public", Family: "IPv4", Assigned: 2, Available: "254", Total: "256", UsedPercent: 0.8, Accepted: true},
					{Name: "public", Family: "IPv6", Assigned: 1, Available: "9223372036854775807", Total: "9223372036854775808", Accepted: true},
				}
				if !reflect.DeepEqual(r.Pools, want) {
					t.Errorf("pools\n%+v\nwant\n%+v", r.Pools, want)
				}
				wantProblems := []string{"IPPool broken is not accepted: overlaps pool public", "IPPool new is not accepted: " + unknown}
				if !reflect.DeepEqual(r.Problems, wantProblems) {
					t.Errorf("problems %q, want %q", r.Problems, wantProblems)
				}
			},
		},
		{
			name: "an empty cluster is healthy and reports empty lists",
			in:   statusInputs{},
			check: func(t *testing.T, r statusReport) {
				if !r.Healthy || r.Problems == nil || r.Sessions == nil || r.Services == nil || r.Pools == nil || r.Nodes == nil {
					t.Errorf("got %+v, want healthy with empty, non-nil lists", r)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Now = statusNow
			tc.check(t, buildReport(tc.in))
		})
	}
}
