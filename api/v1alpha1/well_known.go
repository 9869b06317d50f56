package v1alpha1

// Annotations and labels that bgplb reads from or writes to Services and
// Nodes.
const (
	// AnnotationLoadBalancerIPs requests specific addresses for a Service,
	// comma-separated, at most one per IP family. It supersedes the
	// deprecated spec.loadBalancerIP, which bgplb still honours.
	AnnotationLoadBalancerIPs = "bgplb.io/load-balancer-ips"
	// AnnotationIPPool requests that a Service's addresses come from the
	// named IPPool.
	AnnotationIPPool = "bgplb.io/ip-pool"
	// AnnotationAllowSharedIP names a sharing key: Services with the same
	// key may share an address when their ports do not clash.
	AnnotationAllowSharedIP = "bgplb.io/allow-shared-ip"
	// AnnotationAssignedPool is written by the controller and names the
	// pool that a Service's addresses came from.
	AnnotationAssignedPool = "bgplb.io/assigned-pool"
	// AnnotationDrain on a Node, with any value, drains the node like the
	// node.kubernetes.io/exclude-from-external-load-balancers label: its
	// speaker announces its paths with the graceful-shutdown community
	// 65535:0 (RFC 8326) for each BGPPeer's drainTime, then withdraws
	// them, keeping its BGP sessions up. Removing the annotation announces
	// the paths as usual again.
	AnnotationDrain = "bgplb.io/drain"
	// AnnotationReleaseHeldAdditions on a Service, set to an RFC 3339 time
	// such as 2026-11-24T07:00:00Z, releases every addition of the
	// Service held back by an advertisement's additionHold since before
	// that time: those nodes start announcing at once. Additions that start
	// later are held as usual, so the annotation can stay in place.
	AnnotationReleaseHeldAdditions = "bgplb.io/release-held-additions"
)

// Condition types and reasons shared by the bgplb objects.
const (
	// ConditionAccepted is True when bgplb has validated an object and uses
	// it, and False with a message quoting the bad value otherwise.
	ConditionAccepted = "Accepted"
	// ConditionWeighted is set on a BGPAdvertisement with weightByEndpoints:
	// True when every Service it selects is announced with weights, False
	// when some are announced without, naming one of them, and Unknown
	// while the advertisement is not accepted.
	ConditionWeighted = "Weighted"
	// ConditionSupported is set on a BFDProfile: True when the speakers'
	// BFD engine honours every field of the profile, False naming the
	// fields it ignores. The profile is used either way.
	ConditionSupported = "Supported"

	ReasonAccepted = "Accepted"
	ReasonInvalid  = "Invalid"
	ReasonOverlap  = "Overlap"
	// ReasonWeighted goes with Weighted=True.
	ReasonWeighted = "Weighted"
	// ReasonClusterServices goes with Weighted=False: the advertisement
	// selects Services with externalTrafficPolicy: Cluster, which are
	// announced without weight.
	ReasonClusterServices = "ClusterServices"
	// ReasonSupported goes with Supported=True.
	ReasonSupported = "Supported"
	// ReasonUnsupported goes with Supported=False: the profile sets fields
	// that the BFD engine does not implement, which have no effect.
	ReasonUnsupported = "Unsupported"
)

// The Events the controller records about Services (events.k8s.io/v1), by
// which a client such as bgplbctl finds out why a Service has no address.
const (
	// EventReportingController is the reportingController of every Event
	// the controller records.
	EventReportingController = "bgplb-controller"
	// EventReasonAllocationFailed is the reason of the Warning Event the
	// controller records when it cannot give a Service its addresses;
	// the note says why, quoting the value it cannot use. The controller
	// records it again only when the note changes, and the API server
	// removes Events after its --event-ttl (an hour by default).
	EventReasonAllocationFailed = "AllocationFailed"
)
