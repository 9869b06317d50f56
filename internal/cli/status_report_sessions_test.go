package cli

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
)

// TestBuildReportSessions checks how sessions and their BFD state are
// reported and which of them are problems.
func TestBuildReportSessions(t *testing.T) {
	runReportCases(t, []reportCase{
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
	})
}

// TestBuildReportConfigurationProblems checks that configuration a speaker
// refuses is a problem, listed once for every node reporting it.
func TestBuildReportConfigurationProblems(t *testing.T) {
	up := []v1alpha1.PeerSession{established("router-1")}
	runReportCases(t, []reportCase{
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
	})
}
