package cli

// How status reports Services: which are bgplb's, their announcing nodes,
// why each other node does not announce them, and why some have no
// address.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// ownService tells whether status reports the Service: a LoadBalancer
// whose addresses the bgplb controller assigned, as its pool annotation
// says, or one without an address that the controller serves: one of its
// load balancer class, or one it reported an allocation failure for.
// Other load balancers' Services are none of bgplb's business.
func ownService(s *corev1.Service, class string, failed bool) bool {
	if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	if _, ok := translate.AssignedPool(s); ok {
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
		key := translate.NamespacedKey(e.Regarding.Namespace, e.Regarding.Name)
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
	slicesOf := translate.SlicesByService(in.EndpointSlices)
	failures := allocationFailures(in.Events)
	adsByName := map[string]announce.Advertisement{}
	for _, ad := range ads {
		adsByName[ad.Name] = ad
	}
	pools := translate.AnnouncePools(in.Pools)
	out := []serviceReport{}
	for i := range in.Services {
		svc := &in.Services[i]
		key := translate.ServiceKey(svc)
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
	selected := translate.SelectedService(svc)
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

// serviceReportOf reports one Service from its announcements by node and
// its EndpointSlices.
func serviceReportOf(svc *corev1.Service, byNode map[string]v1alpha1.ServiceAnnouncement, endpointSlices []*discoveryv1.EndpointSlice,
	nodes map[string]*nodeReport, drainsOnCordon func(*nodeReport) []string) serviceReport {
	pool, _ := translate.AssignedPool(svc)
	sr := serviceReport{
		Name:                  translate.ServiceKey(svc),
		Addresses:             ingressIPs(svc),
		Pool:                  pool,
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
		for i := range es.Endpoints {
			if ep := translate.Endpoint(&es.Endpoints[i]); ep.Ready || ep.Serving {
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
		for i := range es.Endpoints {
			ep := translate.Endpoint(&es.Endpoints[i])
			if ep.Node == "" {
				continue
			}
			if ep.Ready {
				ready[ep.Node] = true
			}
			if ep.Serving {
				serving[ep.Node] = true
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
		add(reported && a.State == v1alpha1.AnnouncementFinishing, reasonFinishing)
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
