package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// BGPNodeStatus is written by the speaker of one node, and named after the
// node: its BGP sessions, what it announces and what it holds back, and
// whether it could use the configuration. Speakers read each other's to
// tell whether a Service address is announced anywhere, which decides
// whether a new next hop is an addition that may be held. It is written
// only when something in it changes, so it carries times (since when a
// session is in its state) rather than durations.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=bgpns
// +kubebuilder:printcolumn:name="Sessions up",type=string,JSONPath=`.status.sessionsEstablished`
// +kubebuilder:printcolumn:name="Announced",type=integer,JSONPath=`.status.announcedServices`
// +kubebuilder:printcolumn:name="Held",type=integer,JSONPath=`.status.heldServices`
// +kubebuilder:printcolumn:name="Draining",type=string,JSONPath=`.status.drain.reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPNodeStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Status BGPNodeStatusStatus `json:"status,omitempty"`
}

// BGPNodeStatusStatus is what one node's speaker reports.
type BGPNodeStatusStatus struct {
	// SessionsEstablished reads "established/configured", such as "2/2".
	// +optional
	SessionsEstablished string `json:"sessionsEstablished,omitempty"`

	// Sessions are the node's BGP sessions, sorted by peer.
	// +listType=map
	// +listMapKey=peer
	// +optional
	Sessions []PeerSession `json:"sessions,omitempty"`

	// Conditions: ConfigurationValid is False while the speaker cannot use
	// some configuration object and keeps its last valid version (or, for
	// one it never saw valid, leaves it out); the message names each
	// object and quotes the problem. PermissionsGranted is False while the
	// speaker's identity lacks a permission it needs and the speaker waits
	// for it before starting; the message names each missing permission
	// and the role that grants it. It appears only after such a wait, and
	// turns True once everything is granted.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// AnnouncedServices counts the entries of Services in state Announced
	// or Draining: every Service whose paths the node announces to some
	// peer, including paths that still drain. HeldServices counts the
	// entries in state Held.
	// +optional
	AnnouncedServices int32 `json:"announcedServices"`
	// +optional
	HeldServices int32 `json:"heldServices"`

	// Drain is present while something asks the node to drain, and says
	// what and since when. Its paths carry the graceful-shutdown community
	// until the drain time ends, and are withdrawn then.
	// +optional
	Drain *NodeDrain `json:"drain,omitempty"`

	// Services are the Services this node announces to at least one peer,
	// or would announce but holds back, sorted by name. The list is
	// replaced as a whole on every write: with thousands of Services, the
	// API server's per-item bookkeeping of a keyed list would make each
	// write expensive.
	// +listType=atomic
	// +optional
	Services []ServiceAnnouncement `json:"services,omitempty"`

	// Director is the node's part in forwarding to flow owners, present
	// while the node serves an address of a pool with the director on.
	// Other nodes read it to tell whether they may forward to this node,
	// and where to.
	// +optional
	Director *NodeDirector `json:"director,omitempty"`
}

// NodeDirector is one node's director datapath as other nodes need it.
type NodeDirector struct {
	// Ready says that the node's datapath is loaded and attached, so it
	// can own connections and take packets forwarded to it. A node that
	// is not ready announces as it would without the director, owns no
	// connection and forwards nothing; the DirectorReady condition says
	// why.
	Ready bool `json:"ready"`
	// TunnelAddress is the address other nodes send forwarded packets to,
	// encapsulated in VXLAN.
	// +optional
	TunnelAddress string `json:"tunnelAddress,omitempty"`
	// PlanDigest is a fingerprint of the owner tables the node forwards
	// by. Nodes that show the same digest forward every packet alike; they
	// differ for a second or so after a change, while the nodes learn of
	// it.
	// +optional
	PlanDigest string `json:"planDigest,omitempty"`
}

// NodeDrain says what drains a node and when its paths are withdrawn.
type NodeDrain struct {
	// Reason is what asks the node to drain: Annotation (the
	// bgplb.io/drain annotation), ExcludeLabel (the
	// node.kubernetes.io/exclude-from-external-load-balancers label) or
	// Cordon (spec.unschedulable, which drains the paths of
	// BGPAdvertisements with drainOnCordon).
	// +kubebuilder:validation:Enum=Annotation;ExcludeLabel;Cordon
	Reason string `json:"reason"`
	// Since is when the speaker saw the drain start. It is absent for a
	// node that was draining already when the speaker started: the
	// speaker before it finished that drain, so the node counts as
	// drained.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
	// Until is when the drain time of the node's last peer ends and the
	// draining paths are withdrawn. It is absent when the node has no
	// peer, and whenever Since is.
	// +optional
	Until *metav1.Time `json:"until,omitempty"`
}

// Reasons of NodeDrain.
const (
	DrainReasonAnnotation   = "Annotation"
	DrainReasonExcludeLabel = "ExcludeLabel"
	DrainReasonCordon       = "Cordon"
)

// PeerSession is one BGP session of a node.
type PeerSession struct {
	// Peer is the BGPPeer's name.
	Peer string `json:"peer"`
	// PeerAddress is the router's address.
	// +optional
	PeerAddress string `json:"peerAddress,omitempty"`
	// State is the BGP finite-state-machine state, such as Established,
	// Active or Idle.
	State string `json:"state"`
	// Since is when the session entered State: for an Established session,
	// its uptime starts there.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
	// PrefixesSent is how many prefixes the node announces to the peer.
	// +optional
	PrefixesSent int32 `json:"prefixesSent"`
	// BFD is the state of the BFD session next to the BGP session (Up,
	// Down, Init, AdminDown), empty without BFD.
	// +optional
	BFD string `json:"bfd,omitempty"`
	// GracefulRestart says whether graceful restart was negotiated on the
	// Established session.
	// +optional
	GracefulRestart bool `json:"gracefulRestart,omitempty"`
	// LastError is why the session last went down or could not come up,
	// such as a NOTIFICATION sent or received ("sent NOTIFICATION: OPEN
	// message error, bad peer AS (code 2, subcode 2)"); empty if nothing
	// went wrong.
	// +optional
	LastError string `json:"lastError,omitempty"`
}

// ConditionConfigurationValid is the BGPNodeStatus condition saying
// whether the speaker uses every configuration object as written.
const ConditionConfigurationValid = "ConfigurationValid"

// Reasons of ConditionConfigurationValid.
const (
	ReasonAllValid         = "AllValid"
	ReasonKeepingLastValid = "KeepingLastValid"
)

// ConditionPermissionsGranted is the BGPNodeStatus condition saying
// whether the speaker's identity has every permission the speaker needs.
const ConditionPermissionsGranted = "PermissionsGranted"

// Reasons of ConditionPermissionsGranted.
const (
	ReasonMissingPermissions = "MissingPermissions"
	ReasonAllGranted         = "AllGranted"
)

// ConditionDirectorReady is the BGPNodeStatus condition saying whether the
// node's director datapath is loaded and attached, and if not, why not
// (such as a kernel without BTF). It is present while the node serves an
// address of a pool with the director on.
const ConditionDirectorReady = "DirectorReady"

// Reasons of ConditionDirectorReady.
const (
	ReasonDatapathLoaded      = "DatapathLoaded"
	ReasonDatapathUnavailable = "DatapathUnavailable"
)

// Announcement states of a Service on a node.
const (
	AnnouncementAnnounced = "Announced"
	AnnouncementHeld      = "Held"
	// AnnouncementDraining is a Service whose paths from the node all carry
	// the graceful-shutdown community: routers no longer choose the node
	// for it, so it does not count as a next hop other nodes join.
	AnnouncementDraining = "Draining"
	// AnnouncementFinishing is a Service of a pool with the director on
	// that the node announces no more but whose connections it still
	// serves, as their second owner, until they end or the pool's drain
	// timeout does.
	AnnouncementFinishing = "Finishing"
)

// ServiceAnnouncement is one Service on one node.
type ServiceAnnouncement struct {
	// Name is namespace/name.
	Name string `json:"name"`
	// State is Announced, Draining, Finishing or Held.
	// +kubebuilder:validation:Enum=Announced;Draining;Finishing;Held
	State string `json:"state"`
	// HeldSince is when the node could first have announced a held
	// Service.
	// +optional
	HeldSince *metav1.Time `json:"heldSince,omitempty"`
	// HeldUntil is when a held Service will be announced, unless it is
	// released earlier.
	// +optional
	HeldUntil *metav1.Time `json:"heldUntil,omitempty"`
}

// BGPNodeStatusList is a list of BGPNodeStatus objects.
//
// +kubebuilder:object:root=true
type BGPNodeStatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPNodeStatus `json:"items"`
}

func init() {
	SchemeBuilder.Register(&BGPNodeStatus{}, &BGPNodeStatusList{})
}
