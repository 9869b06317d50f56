package cli

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// statusInputs is everything status reads from the API server, as read.
// buildReport turns it into a statusReport without further reads, so the
// rules are tested on plain values.
type statusInputs struct {
	// Now is when the objects were read; durations are counted to it.
	Now time.Time
	// Namespace limits the Services (and their EndpointSlices) that were
	// read; empty means every namespace.
	Namespace      string
	NodeStatuses   []v1alpha1.BGPNodeStatus
	Nodes          []corev1.Node
	Services       []corev1.Service
	EndpointSlices []discoveryv1.EndpointSlice
	Pools          []v1alpha1.IPPool
	// Peers tell which BFD profile each session's peer asks for.
	Peers []v1alpha1.BGPPeer
	// Advertisements tell which nodes a cordon drains.
	Advertisements []v1alpha1.BGPAdvertisement
	// LoadBalancerClass is the spec.loadBalancerClass of the Services the
	// bgplb controller serves; empty means Services without a class.
	LoadBalancerClass string
	// Events are the controller's AllocationFailed Events, which say why
	// a Service has no address.
	Events []eventsv1.Event
}

// statusReport is the result of status: -o json writes it as it is, and
// the text output shows the same content as tables.
type statusReport struct {
	GeneratedAt time.Time `json:"generatedAt"`
	// Namespace is the --namespace the Services were limited to.
	Namespace string `json:"namespace,omitempty"`
	// Healthy is true when Problems is empty.
	Healthy bool `json:"healthy"`
	// Problems lists, one sentence each, the sessions that are not
	// Established or go without the BFD their peer asks for, the
	// configuration the speakers refuse, the Services without an address
	// and those no node announces, and the pools not accepted. Held additions, drains, cordons and
	// exclusions are intended and not problems.
	Problems []string     `json:"problems"`
	Nodes    []nodeReport `json:"nodes"`
	// ConfigurationProblems lists each configuration object some speaker
	// refuses once, with the nodes whose speakers refuse it: an invalid
	// advertisement is refused by every node alike.
	ConfigurationProblems []configurationProblem `json:"configurationProblems"`
	Sessions              []sessionReport        `json:"sessions"`
	Services              []serviceReport        `json:"services"`
	Pools                 []poolReport           `json:"pools"`
}

// nodeReport is one node, known from its Node object, its BGPNodeStatus
// or both.
type nodeReport struct {
	Name string `json:"name"`
	// SpeakerStatus tells whether the node has a BGPNodeStatus; without
	// one, no speaker has reported from the node.
	SpeakerStatus bool `json:"speakerStatus"`
	// NodeMissing is set for a BGPNodeStatus whose Node does not exist
	// (any more).
	NodeMissing bool `json:"nodeMissing,omitempty"`
	// Sessions counts the node's BGP sessions, Established those up.
	Sessions    int `json:"sessions"`
	Established int `json:"established"`
	// ConfigurationInvalid holds the message of a ConfigurationValid
	// condition that is False: the speaker keeps the last valid version
	// of the objects it names.
	ConfigurationInvalid string `json:"configurationInvalid,omitempty"`
	// Excluded, DrainAnnotation and Cordoned come from the Node: the
	// exclude-from-external-load-balancers label, the bgplb.io/drain
	// annotation and spec.unschedulable.
	Excluded        bool `json:"excluded,omitempty"`
	DrainAnnotation bool `json:"drainAnnotation,omitempty"`
	Cordoned        bool `json:"cordoned,omitempty"`
	// DrainOnCordonBy names, for a cordoned node, the BGPAdvertisements
	// that apply to the node and set drainOnCordon: the cordon drains
	// their paths. Without any, a cordon changes nothing announced.
	DrainOnCordonBy []string `json:"drainOnCordonBy,omitempty"`
	// Draining says that the node's speaker drains paths: all of them
	// when the node is excluded or carries the drain annotation, those of
	// DrainOnCordonBy when it is cordoned. Draining is intended, not a
	// problem.
	Draining bool `json:"draining"`
	// DrainUntil is when the node's speaker withdraws its draining paths,
	// from its BGPNodeStatus (absent for a node drained before its speaker
	// started, or with no peer).
	DrainUntil *time.Time `json:"drainUntil,omitempty"`
}

// configurationProblem is one entry of the speakers' ConfigurationValid
// conditions, such as `BGPAdvertisement/public: spec.communities[0]:
// invalid community "x"`, and the nodes reporting it.
type configurationProblem struct {
	Problem string   `json:"problem"`
	Nodes   []string `json:"nodes"`
	// EveryNode is set when every node with a speaker status (two or
	// more) reports the problem.
	EveryNode bool `json:"everyNode"`
}

// text is the problem as status lists it.
func (p configurationProblem) text() string {
	where := "node " + p.Nodes[0]
	switch {
	case p.EveryNode:
		where = "every node"
	case len(p.Nodes) > 1:
		where = "nodes " + nameList(p.Nodes)
	}
	return fmt.Sprintf("speaker configuration invalid on %s: %s", where, p.Problem)
}

// sessionReport is one BGP session of one node.
type sessionReport struct {
	Node        string `json:"node"`
	Peer        string `json:"peer"`
	PeerAddress string `json:"peerAddress,omitempty"`
	State       string `json:"state"`
	Established bool   `json:"established"`
	// Since is when the session entered State, and Seconds how long
	// before GeneratedAt that was: the uptime of an Established session.
	Since   *time.Time `json:"since,omitempty"`
	Seconds *int64     `json:"secondsInState,omitempty"`
	// PrefixesSent and BFD (the BFD session's state, empty without BFD)
	// are given for an Established session only: a session that is down
	// sends nothing, and its speaker's last figures would read as live.
	PrefixesSent *int32 `json:"prefixesSent,omitempty"`
	BFD          string `json:"bfd,omitempty"`
	// BFDProfile is the BFD profile the session's BGPPeer asks for.
	BFDProfile      string `json:"bfdProfile,omitempty"`
	GracefulRestart bool   `json:"gracefulRestart"`
	LastError       string `json:"lastError,omitempty"`
}

// serviceReport is one Service whose addresses the bgplb controller
// assigned, or that it serves and has not given an address.
type serviceReport struct {
	// Name is namespace/name.
	Name      string   `json:"name"`
	Addresses []string `json:"addresses"`
	// Pending is set while the Service has no address (kubectl shows
	// <pending>). PendingReason is why, from the bgplb controller's latest
	// AllocationFailed Event about the Service, and PendingReasonAt when
	// that Event was last seen; both are empty when no such Event is left.
	Pending         bool       `json:"pending"`
	PendingReason   string     `json:"pendingReason,omitempty"`
	PendingReasonAt *time.Time `json:"pendingReasonAt,omitempty"`
	Pool            string     `json:"pool"`
	// ExternalTrafficPolicy is Cluster or Local.
	ExternalTrafficPolicy string `json:"externalTrafficPolicy"`
	// Announced is true when at least one node announces the Service.
	Announced bool `json:"announced"`
	// AnnouncedBy are the nodes reporting the Service Announced.
	AnnouncedBy []string `json:"announcedBy"`
	// Held are the nodes holding back an addition of the Service.
	Held []heldReport `json:"held"`
	// NotAnnouncing lists every node that does not announce the Service
	// with the reasons; it is left out when every node announces.
	NotAnnouncing []notAnnouncingReport `json:"notAnnouncing,omitempty"`
	// Warnings are oddities that are not reasons, such as a node
	// announcing a Local Service without an endpoint.
	Warnings []string `json:"warnings,omitempty"`
}

type heldReport struct {
	Node  string     `json:"node"`
	Since *time.Time `json:"since,omitempty"`
	// Until is when the node announces the Service unless released
	// earlier; empty when the speaker gave no time.
	Until *time.Time `json:"until,omitempty"`
}

// Reasons a node does not announce a Service.
const (
	reasonHeld            = "held"
	reasonNoReadyEndpoint = "no ready endpoint"
	reasonNoSpeakerStatus = "no speaker status"
	reasonExcluded        = "excluded"
	// reasonDraining is the drain annotation, or a speaker reporting the
	// Service Draining for a reason status cannot see.
	reasonDraining = "draining"
	// reasonCordoned is a cordon that drains the Service: some
	// advertisement announcing it from the node drains on cordon.
	reasonCordoned = "cordoned"
	// reasonFinishing is a node that announces the Service no more but
	// still serves the connections it owns (the director).
	reasonFinishing = "finishing its connections"
	// The two below are given only when none of the above applies.
	reasonNoSession   = "no BGP session established"
	reasonNotReported = "its speaker does not announce it"
)

type notAnnouncingReport struct {
	Node string `json:"node"`
	// Reasons are every reason that applies, from the constants above:
	// held alone, or any of the rest.
	Reasons []string `json:"reasons"`
	// HeldUntil goes with the reason held.
	HeldUntil *time.Time `json:"heldUntil,omitempty"`
	// DrainOnCordonBy goes with the reason cordoned: the advertisements
	// announcing the Service from the node that drain on cordon.
	DrainOnCordonBy []string `json:"drainOnCordonBy,omitempty"`
}

// buildReport applies status's rules to what was read. It reads nothing
// else (not even the clock), so it is tested with plain values.
func buildReport(in statusInputs) statusReport {
	r := statusReport{
		GeneratedAt: in.Now.UTC(),
		Namespace:   in.Namespace,
		Problems:    []string{},
		Nodes:       []nodeReport{},
		Sessions:    []sessionReport{},
		// Filled in below; empty rather than null in the JSON.
		ConfigurationProblems: []configurationProblem{},
		Services:              []serviceReport{},
		Pools:                 []poolReport{},
	}
	ads := usableAdvertisements(in.Advertisements)
	nodes := nodeReports(in, ads)
	for _, name := range sortedKeys(nodes) {
		r.Nodes = append(r.Nodes, *nodes[name])
	}
	r.Sessions = sessionReports(in)
	r.Problems = append(r.Problems, sessionProblems(r.Sessions)...)
	r.ConfigurationProblems = configurationProblems(r.Nodes)
	for _, p := range r.ConfigurationProblems {
		r.Problems = append(r.Problems, p.text())
	}
	r.Services = serviceReports(in, nodes, ads)
	for _, s := range r.Services {
		switch {
		case s.Pending:
			r.Problems = append(r.Problems, "Service "+s.Name+" has no address: "+pendingReason(s))
		case !s.Announced:
			r.Problems = append(r.Problems, "Service "+s.Name+" is announced by no node"+unannouncedBecause(s))
		}
	}
	r.Pools = poolReports(in.Pools)
	for i, p := range r.Pools {
		// A pool with two families is one problem.
		if !p.Accepted && (i == 0 || r.Pools[i-1].Name != p.Name) {
			r.Problems = append(r.Problems, fmt.Sprintf("IPPool %s is not accepted: %s", p.Name, p.Message))
		}
	}
	r.Healthy = len(r.Problems) == 0
	return r
}

// usableAdvertisements translates the advertisements the speakers can use.
// The speakers keep the last valid version of one that an edit broke,
// which status cannot see, and report it; status leaves it out.
func usableAdvertisements(items []v1alpha1.BGPAdvertisement) []announce.Advertisement {
	var out []announce.Advertisement
	for i := range items {
		if ad, err := translate.UsableAdvertisement(&items[i]); err == nil {
			out = append(out, ad)
		}
	}
	slices.SortFunc(out, func(a, b announce.Advertisement) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func nodeReports(in statusInputs, ads []announce.Advertisement) map[string]*nodeReport {
	nodes := map[string]*nodeReport{}
	for i := range in.Nodes {
		nodes[in.Nodes[i].Name] = nodeReportOf(&in.Nodes[i], ads)
	}
	for i := range in.NodeStatuses {
		st := &in.NodeStatuses[i]
		n, ok := nodes[st.Name]
		if !ok {
			n = &nodeReport{Name: st.Name, NodeMissing: true}
			nodes[st.Name] = n
		}
		n.SpeakerStatus = true
		if d := st.Status.Drain; d != nil {
			n.DrainUntil = timeOf(d.Until)
		}
		n.Sessions = len(st.Status.Sessions)
		for _, s := range st.Status.Sessions {
			if s.State == stateEstablished {
				n.Established++
			}
		}
		if c := meta.FindStatusCondition(st.Status.Conditions, v1alpha1.ConditionConfigurationValid); c != nil && c.Status == metav1.ConditionFalse {
			n.ConfigurationInvalid = c.Message
			if n.ConfigurationInvalid == "" {
				n.ConfigurationInvalid = c.Reason
			}
		}
	}
	return nodes
}

// configurationProblems groups the entries of the nodes' ConfigurationValid
// messages by their text, sorted by it.
func configurationProblems(nodes []nodeReport) []configurationProblem {
	speakers := 0
	reporters := map[string][]string{}
	for _, n := range nodes {
		if n.SpeakerStatus {
			speakers++
		}
		for _, entry := range configurationEntries(n.ConfigurationInvalid) {
			reporters[entry] = append(reporters[entry], n.Name)
		}
	}
	out := []configurationProblem{}
	for _, entry := range sortedKeys(reporters) {
		names := reporters[entry]
		out = append(out, configurationProblem{Problem: entry, Nodes: names, EveryNode: speakers > 1 && len(names) == speakers})
	}
	return out
}

// configurationEntries splits a speaker's ConfigurationValid message into
// its entries. The speaker joins entries of the form "Kind/name: why" with
// "; ", and a why may itself contain "; " (such as "; keeping the previous
// version"), so a piece starts a new entry only if it names an object.
func configurationEntries(message string) []string {
	if message == "" {
		return nil
	}
	var entries []string
	for i, piece := range strings.Split(message, "; ") {
		if i > 0 && !namesObject(piece) {
			entries[len(entries)-1] += "; " + piece
			continue
		}
		entries = append(entries, piece)
	}
	return entries
}

// namesObject tells whether an entry starts with "Kind/name: ", Kind being
// letters starting with a capital and name holding no space.
func namesObject(entry string) bool {
	kind, rest, ok := strings.Cut(entry, "/")
	if !ok || kind == "" || kind[0] < 'A' || kind[0] > 'Z' || strings.ContainsFunc(kind, func(r rune) bool { return !unicode.IsLetter(r) }) {
		return false
	}
	name, _, ok := strings.Cut(rest, ": ")
	return ok && name != "" && !strings.ContainsAny(name, " \t")
}

// nodeReportOf is what a Node says about announcing from it. The speaker
// drains every path of a node that is excluded or carries the drain
// annotation, and on a cordoned node the paths of the advertisements that
// apply to it and drain on cordon.
func nodeReportOf(n *corev1.Node, ads []announce.Advertisement) *nodeReport {
	node, drain := translate.Node(n)
	r := &nodeReport{Name: n.Name, Excluded: drain.Excluded, DrainAnnotation: drain.Annotated, Cordoned: node.Cordoned}
	if r.Cordoned {
		for _, ad := range ads {
			if ad.DrainOnCordon && announce.AppliesToNode(ad, n.Labels) {
				r.DrainOnCordonBy = append(r.DrainOnCordonBy, ad.Name)
			}
		}
	}
	r.Draining = node.Drain || len(r.DrainOnCordonBy) > 0
	return r
}

// stateEstablished is the BGP state of a session that is up, and bfdUp
// the BFD state of a BFD session that is.
const (
	stateEstablished = "Established"
	bfdUp            = "Up"
)

func sessionReports(in statusInputs) []sessionReport {
	bfdProfiles := map[string]string{}
	for i := range in.Peers {
		bfdProfiles[in.Peers[i].Name] = in.Peers[i].Spec.BFDProfile
	}
	out := []sessionReport{}
	for i := range in.NodeStatuses {
		st := &in.NodeStatuses[i]
		for _, s := range st.Status.Sessions {
			out = append(out, sessionReportOf(st.Name, s, bfdProfiles[s.Peer], in.Now))
		}
	}
	slices.SortFunc(out, func(a, b sessionReport) int {
		return cmpFirst(strings.Compare(a.Node, b.Node), strings.Compare(a.Peer, b.Peer))
	})
	return out
}

// sessionReportOf is the report of one session of node, whose peer asks
// for bfdProfile.
func sessionReportOf(node string, s v1alpha1.PeerSession, bfdProfile string, now time.Time) sessionReport {
	sr := sessionReport{
		Node: node, Peer: s.Peer, PeerAddress: s.PeerAddress, State: s.State, Established: s.State == stateEstablished,
		BFDProfile: bfdProfile, GracefulRestart: s.GracefulRestart, LastError: s.LastError,
	}
	if sr.Established {
		prefixes := s.PrefixesSent
		sr.PrefixesSent, sr.BFD = &prefixes, s.BFD
	}
	if s.Since != nil {
		since := s.Since.UTC()
		seconds := int64(max(now.Sub(since), 0) / time.Second)
		sr.Since, sr.Seconds = &since, &seconds
	}
	return sr
}

// sessionProblems lists the sessions that are down, and the Established
// ones whose BFD session is not Up: BFD is what detects a dead link in
// well under a second, so a peer that asks for it and goes without it
// falls back to the BGP hold time unnoticed.
func sessionProblems(sessions []sessionReport) []string {
	var out []string
	for _, s := range sessions {
		switch {
		case !s.Established:
			state := s.State
			if state == "" {
				state = "in no state"
			}
			problem := fmt.Sprintf("session %s to %s is %s", s.Node, s.Peer, state)
			if s.LastError != "" {
				problem += ": " + s.LastError
			}
			out = append(out, problem)
		case s.BFD != "" && s.BFD != bfdUp:
			// The speaker reports a BFD state only for a peer that asks
			// for BFD; the profile's name comes from the BGPPeer.
			asks := "BFD"
			if s.BFDProfile != "" {
				asks = "BFD profile " + s.BFDProfile
			}
			out = append(out, fmt.Sprintf("session %s to %s: BFD is %s although the peer asks for %s", s.Node, s.Peer, s.BFD, asks))
		}
	}
	return out
}

func cmpFirst(cmps ...int) int {
	for _, c := range cmps {
		if c != 0 {
			return c
		}
	}
	return 0
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
