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
)

// Condition types and reasons shared by the bgplb objects.
const (
	// ConditionAccepted is True when bgplb has validated an object and uses
	// it, and False with a message quoting the bad value otherwise.
	ConditionAccepted = "Accepted"

	ReasonAccepted = "Accepted"
	ReasonInvalid  = "Invalid"
	ReasonOverlap  = "Overlap"
)
