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

// reportCase is the cluster state a status report is built from and the
// checks on the report.
type reportCase struct {
	name  string
	in    statusInputs
	check func(t *testing.T, r statusReport)
}

// runReportCases builds each case's report as of statusNow and checks it.
func runReportCases(t *testing.T, tests []reportCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Now = statusNow
			tc.check(t, buildReport(tc.in))
		})
	}
}

// TestBuildReportPools checks that each pool family reports its usage and
// that a pool not accepted is a problem.
func TestBuildReportPools(t *testing.T) {
	runReportCases(t, []reportCase{
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
	})
}

// TestBuildReportOfAnEmptyCluster checks that nothing to report is healthy
// and gives empty lists rather than none.
func TestBuildReportOfAnEmptyCluster(t *testing.T) {
	runReportCases(t, []reportCase{
		{
			name: "an empty cluster is healthy and reports empty lists",
			in:   statusInputs{},
			check: func(t *testing.T, r statusReport) {
				if !r.Healthy || r.Problems == nil || r.Sessions == nil || r.Services == nil || r.Pools == nil || r.Nodes == nil {
					t.Errorf("got %+v, want healthy with empty, non-nil lists", r)
				}
			},
		},
	})
}
