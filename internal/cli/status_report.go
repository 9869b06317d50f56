package cli

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

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

// poolReport is one IP family of one pool; a pool without usage in its
// status yet has one report with an empty family.
type poolReport struct {
	Name   string `json:"name"`
	Family string `json:"family"`
	// Assigned, Available and Total (their sum, saturating like the
	// pool's status at the largest int64) count addresses.
	Assigned    int64   `json:"assigned"`
	Available   int64   `json:"available"`
	Total       int64   `json:"total"`
	UsedPercent float64 `json:"usedPercent"`
	// Accepted is the pool's Accepted condition; Message is its message
	// when the condition is not True, or says that it is missing.
	Accepted bool   `json:"accepted"`
	Message  string `json:"message,omitempty"`
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

// pendingReason says why a Service has no address, quoting the
// controller. Without its Event, the likeliest causes are a controller
// that does not run or does not serve the Service's class, or an Event
// that expired.
func pendingReason(s serviceReport) string {
	if s.PendingReason == "" {
		return "no AllocationFailed Event of the bgplb controller says why " +
			"(is the controller running and serving the Service's load balancer class? its Events expire after an hour)"
	}
	return s.PendingReason
}

// unannouncedBecause gives the reason no node announces a Service that has
// an address, as ": reason", when one reason explains it.
func unannouncedBecause(s serviceReport) string {
	switch {
	case whyNotAll(s, reasonNoSession):
		return ": no node that would announce it has a BGP session established"
	case !whyNotAll(s, reasonNoReadyEndpoint):
		return ""
	case s.ExternalTrafficPolicy == string(corev1.ServiceExternalTrafficPolicyLocal):
		return ": no node has a ready endpoint"
	}
	return ": it has no ready endpoint"
}

// whyNotAll tells whether every node that does not announce the Service
// gives reason, and there is at least one such node.
func whyNotAll(s serviceReport, reason string) bool {
	for _, n := range s.NotAnnouncing {
		if !slices.Contains(n.Reasons, reason) {
			return false
		}
	}
	return len(s.NotAnnouncing) > 0
}

// usableAdvertisements translates the advertisements the speakers can use.
// The speakers keep the last valid version of one that an edit broke,
// which status cannot see, and report it; status leaves it out.
func usableAdvertisements(items []v1alpha1.BGPAdvertisement) []announce.Advertisement {
	var out []announce.Advertisement
	for i := range items {
		ad, err := translate.Advertisement(&items[i])
		if err == nil {
			err = announce.Validate(ad)
		}
		if err == nil {
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
	_, excluded := n.Labels[announce.ExcludeLabel]
	_, annotated := n.Annotations[v1alpha1.AnnotationDrain]
	r := &nodeReport{Name: n.Name, Excluded: excluded, DrainAnnotation: annotated, Cordoned: n.Spec.Unschedulable}
	if r.Cordoned {
		for _, ad := range ads {
			if ad.DrainOnCordon && announce.AppliesToNode(ad, n.Labels) {
				r.DrainOnCordonBy = append(r.DrainOnCordonBy, ad.Name)
			}
		}
	}
	r.Draining = excluded || annotated || len(r.DrainOnCordonBy) > 0
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

// ownService tells whether status reports the Service: a LoadBalancer
// whose addresses the bgplb controller assigned, as its pool annotation
// says, or one without an address that the controller serves: one of its
// load balancer class, or one it reported an allocation failure for.
// Other load balancers' Services are none of bgplb's business.
func ownService(s *corev1.Service, class string, failed bool) bool {
	if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	if _, ok := s.Annotations[v1alpha1.AnnotationAssignedPool]; ok {
		return true
	}
	if len(ingressIPs(s)) > 0 || s.DeletionTimestamp != nil {
		return false
	}
	return failed || (s.Spec.LoadBalancerClass == nil && class == "") ||
		(s.Spec.LoadBalancerClass != nil && *s.Spec.LoadBalancerClass == class)
}

// ingressIPs are the addresses in a Service's status.
func ingressIPs(s *corev1.Service) []string {
	ips := []string{}
	for _, ing := range s.Status.LoadBalancer.Ingress {
		if ing.IP != "" {
			ips = append(ips, ing.IP)
		}
	}
	return ips
}

// allocationFailure is the latest AllocationFailed Event about a Service.
type allocationFailure struct {
	uid  types.UID
	note string
	at   time.Time
}

// allocationFailures returns the latest AllocationFailed Event of the
// bgplb controller about each Service, by namespace/name.
func allocationFailures(events []eventsv1.Event) map[string]allocationFailure {
	out := map[string]allocationFailure{}
	for i := range events {
		e := &events[i]
		if e.Reason != v1alpha1.EventReasonAllocationFailed || e.ReportingController != v1alpha1.EventReportingController ||
			e.Regarding.Kind != "Service" {
			continue
		}
		key := e.Regarding.Namespace + "/" + e.Regarding.Name
		at := lastSeen(e)
		if last, ok := out[key]; !ok || at.After(last.at) {
			out[key] = allocationFailure{uid: e.Regarding.UID, note: e.Note, at: at}
		}
	}
	return out
}

// lastSeen is when an Event last happened: the last of its series, else
// its own time, else the time of the older API's fields, else its
// creation.
func lastSeen(e *eventsv1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.DeprecatedLastTimestamp.IsZero():
		return e.DeprecatedLastTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

func serviceReports(in statusInputs, nodes map[string]*nodeReport, ads []announce.Advertisement) []serviceReport {
	announcements := announcementsByService(in.NodeStatuses)
	slicesOf := endpointSlicesByService(in.EndpointSlices)
	failures := allocationFailures(in.Events)
	adsByName := map[string]announce.Advertisement{}
	for _, ad := range ads {
		adsByName[ad.Name] = ad
	}
	pools := make([]announce.Pool, 0, len(in.Pools))
	for _, p := range in.Pools {
		pools = append(pools, announce.Pool{Name: p.Name, Labels: p.Labels})
	}
	out := []serviceReport{}
	for i := range in.Services {
		svc := &in.Services[i]
		key := svc.Namespace + "/" + svc.Name
		failure, failed := failures[key]
		// An Event about an earlier Service of the same name says nothing
		// about this one.
		failed = failed && (failure.uid == "" || svc.UID == "" || failure.uid == svc.UID)
		if !ownService(svc, in.LoadBalancerClass, failed) || (in.Namespace != "" && svc.Namespace != in.Namespace) {
			continue
		}
		drainsOnCordon := cordonDrains(svc, adsByName, pools)
		sr := serviceReportOf(svc, announcements[key], slicesOf[key], nodes, drainsOnCordon)
		if sr.Pending && failed {
			at := failure.at.UTC()
			sr.PendingReason, sr.PendingReasonAt = failure.note, &at
		}
		out = append(out, sr)
	}
	slices.SortFunc(out, func(a, b serviceReport) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// cordonDrains returns a function naming the advertisements that drain the
// Service from a cordoned node: those of the node's DrainOnCordonBy that
// select the Service, by its pool and labels.
func cordonDrains(svc *corev1.Service, ads map[string]announce.Advertisement, pools []announce.Pool) func(*nodeReport) []string {
	selected := announce.Service{Key: svc.Namespace + "/" + svc.Name, Labels: svc.Labels, Pool: svc.Annotations[v1alpha1.AnnotationAssignedPool]}
	return func(n *nodeReport) []string {
		var names []string
		for _, name := range n.DrainOnCordonBy {
			if announce.Selects(ads[name], pools, selected) {
				names = append(names, name)
			}
		}
		return names
	}
}

// announcementsByService indexes what each node says about each Service:
// Service, then node.
func announcementsByService(statuses []v1alpha1.BGPNodeStatus) map[string]map[string]v1alpha1.ServiceAnnouncement {
	out := map[string]map[string]v1alpha1.ServiceAnnouncement{}
	for i := range statuses {
		st := &statuses[i]
		for _, a := range st.Status.Services {
			if out[a.Name] == nil {
				out[a.Name] = map[string]v1alpha1.ServiceAnnouncement{}
			}
			out[a.Name][st.Name] = a
		}
	}
	return out
}

// endpointSlicesByService indexes EndpointSlices by their Service's
// namespace/name.
func endpointSlicesByService(items []discoveryv1.EndpointSlice) map[string][]*discoveryv1.EndpointSlice {
	out := map[string][]*discoveryv1.EndpointSlice{}
	for i := range items {
		es := &items[i]
		if name, ok := es.Labels[discoveryv1.LabelServiceName]; ok {
			key := es.Namespace + "/" + name
			out[key] = append(out[key], es)
		}
	}
	return out
}

// serviceReportOf reports one Service from its announcements by node and
// its EndpointSlices.
func serviceReportOf(svc *corev1.Service, byNode map[string]v1alpha1.ServiceAnnouncement, endpointSlices []*discoveryv1.EndpointSlice,
	nodes map[string]*nodeReport, drainsOnCordon func(*nodeReport) []string) serviceReport {
	sr := serviceReport{
		Name:                  svc.Namespace + "/" + svc.Name,
		Addresses:             ingressIPs(svc),
		Pool:                  svc.Annotations[v1alpha1.AnnotationAssignedPool],
		ExternalTrafficPolicy: string(corev1.ServiceExternalTrafficPolicyCluster),
		AnnouncedBy:           []string{},
		Held:                  []heldReport{},
	}
	local := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	if local {
		sr.ExternalTrafficPolicy = string(corev1.ServiceExternalTrafficPolicyLocal)
	}
	sr.Pending = len(sr.Addresses) == 0
	if sr.Pending {
		// Without an address there is nothing to announce, and no node
		// has a reason of its own not to.
		return sr
	}
	for _, node := range sortedKeys(byNode) {
		switch a := byNode[node]; a.State {
		case v1alpha1.AnnouncementAnnounced:
			if reachesARouter(nodes[node]) {
				sr.AnnouncedBy = append(sr.AnnouncedBy, node)
			}
		case v1alpha1.AnnouncementHeld:
			sr.Held = append(sr.Held, heldReport{Node: node, Since: timeOf(a.HeldSince), Until: timeOf(a.HeldUntil)})
		}
	}
	sr.Announced = len(sr.AnnouncedBy) > 0
	endpointNodes := nodesWithEndpoints(endpointSlices)
	hasEndpoint := func(node string) bool { return endpointNodes[node] }
	if local {
		for _, node := range sr.AnnouncedBy {
			if !endpointNodes[node] {
				sr.Warnings = append(sr.Warnings, fmt.Sprintf("node %s announces the Local Service without a ready endpoint", node))
			}
		}
	} else {
		// A Cluster Service is announced from every node while it has an
		// endpoint anywhere, and from none without; a node announcing it
		// shows that the speakers see one, whatever was read here.
		anywhere := sr.Announced || hasAnyEndpoint(endpointSlices)
		hasEndpoint = func(string) bool { return anywhere }
	}
	sr.NotAnnouncing = whyNot(nodes, byNode, hasEndpoint, drainsOnCordon)
	return sr
}

// reachesARouter tells whether what a node's speaker announces reaches a
// router: its status lists the Service as announced also while every
// session is down, when no router has the path.
func reachesARouter(n *nodeReport) bool {
	return n == nil || n.Sessions == 0 || n.Established > 0
}

// hasAnyEndpoint tells whether a Cluster Service has an endpoint the
// speakers count, on a node or not: a ready one, or a serving one.
func hasAnyEndpoint(endpointSlices []*discoveryv1.EndpointSlice) bool {
	for _, es := range endpointSlices {
		for _, ep := range es.Endpoints {
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			if ready || (ep.Conditions.Serving != nil && *ep.Conditions.Serving) {
				return true
			}
		}
	}
	return false
}

// nodesWithEndpoints returns the nodes that have an endpoint counting for
// a Local Service the way the speakers count it: a ready endpoint, or,
// while no endpoint anywhere is ready, a serving one. An endpoint without
// conditions is ready.
func nodesWithEndpoints(slices []*discoveryv1.EndpointSlice) map[string]bool {
	ready, serving := map[string]bool{}, map[string]bool{}
	for _, es := range slices {
		for _, ep := range es.Endpoints {
			if ep.NodeName == nil {
				continue
			}
			isReady := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			isServing := (ep.Conditions.Serving == nil && isReady) || (ep.Conditions.Serving != nil && *ep.Conditions.Serving)
			if isReady {
				ready[*ep.NodeName] = true
			}
			if isServing {
				serving[*ep.NodeName] = true
			}
		}
	}
	if len(ready) > 0 {
		return ready
	}
	return serving
}

// whyNot lists every node that does not announce a Service, with its
// reasons. hasEndpoint tells whether the node has an endpoint that lets it
// announce the Service, and drainsOnCordon which advertisements drain the
// Service from the node if it is cordoned.
func whyNot(nodes map[string]*nodeReport, byNode map[string]v1alpha1.ServiceAnnouncement, hasEndpoint func(string) bool,
	drainsOnCordon func(*nodeReport) []string) []notAnnouncingReport {
	var out []notAnnouncingReport // nil when every node announces, as JSON leaves it out
	for _, name := range sortedKeys(nodes) {
		n := nodes[name]
		a, reported := byNode[name]
		if reported && a.State == v1alpha1.AnnouncementAnnounced {
			if !reachesARouter(n) {
				out = append(out, notAnnouncingReport{Node: name, Reasons: []string{reasonNoSession}})
			}
			continue
		}
		if reported && a.State == v1alpha1.AnnouncementHeld {
			out = append(out, notAnnouncingReport{Node: name, Reasons: []string{reasonHeld}, HeldUntil: timeOf(a.HeldUntil)})
			continue
		}
		why := notAnnouncingReport{Node: name}
		add := func(cond bool, reason string) {
			if cond {
				why.Reasons = append(why.Reasons, reason)
			}
		}
		cordonDrains := []string(nil)
		if n.Cordoned {
			cordonDrains = drainsOnCordon(n)
		}
		if reported && a.State == v1alpha1.AnnouncementDraining {
			// Its paths carry the graceful-shutdown community until the
			// drain time ends; routers no longer choose it. The Node says
			// why, unless it changed since.
			add(n.Excluded, reasonExcluded)
			add(n.DrainAnnotation || (!n.Excluded && len(cordonDrains) == 0), reasonDraining)
			add(len(cordonDrains) > 0, reasonCordoned)
			why.DrainOnCordonBy = cordonDrains
			out = append(out, why)
			continue
		}
		add(!hasEndpoint(name), reasonNoReadyEndpoint)
		add(!n.SpeakerStatus, reasonNoSpeakerStatus)
		add(n.Excluded, reasonExcluded)
		add(n.DrainAnnotation, reasonDraining)
		add(len(cordonDrains) > 0, reasonCordoned)
		why.DrainOnCordonBy = cordonDrains
		if len(why.Reasons) == 0 {
			// A node with an endpoint and nothing against it: either it
			// has no session to announce on, or no advertisement or peer
			// selects it, which status does not work out.
			if n.Established == 0 {
				why.Reasons = []string{reasonNoSession}
			} else {
				why.Reasons = []string{reasonNotReported}
			}
		}
		out = append(out, why)
	}
	return out
}

func poolReports(pools []v1alpha1.IPPool) []poolReport {
	out := []poolReport{}
	sorted := slices.Clone(pools)
	slices.SortFunc(sorted, func(a, b v1alpha1.IPPool) int { return strings.Compare(a.Name, b.Name) })
	for i := range sorted {
		p := &sorted[i]
		accepted, message := true, ""
		switch c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionAccepted); {
		case c == nil:
			accepted, message = false, "no Accepted condition yet (is the controller running?)"
		case c.Status != metav1.ConditionTrue:
			accepted, message = false, c.Message
			if message == "" {
				message = c.Reason
			}
		}
		base := poolReport{Name: p.Name, Accepted: accepted, Message: message}
		families := []struct {
			name  string
			usage *v1alpha1.FamilyUsage
		}{{"IPv4", p.Status.IPv4}, {"IPv6", p.Status.IPv6}}
		added := false
		for _, f := range families {
			if f.usage == nil {
				continue
			}
			pr := base
			pr.Family, pr.Assigned, pr.Available = f.name, f.usage.Assigned, f.usage.Available
			pr.Total = saturatingAdd(pr.Assigned, pr.Available)
			if pr.Total > 0 {
				pr.UsedPercent = math.Round(1000*float64(pr.Assigned)/float64(pr.Total)) / 10
			}
			out = append(out, pr)
			added = true
		}
		if !added {
			out = append(out, base)
		}
	}
	return out
}

func saturatingAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
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
