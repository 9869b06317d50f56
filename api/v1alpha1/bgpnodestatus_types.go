package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// BGPNodeStatus is written by the speaker of one node, and named after the
// node: what the node announces and what it holds back. Speakers read each
// other's to tell whether a Service address is announced anywhere, which
// decides whether a new next hop is an addition that may be held.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=bgpns
// +kubebuilder:printcolumn:name="Announced",type=integer,JSONPath=`.status.announcedServices`
// +kubebuilder:printcolumn:name="Held",type=integer,JSONPath=`.status.heldServices`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPNodeStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Status BGPNodeStatusStatus `json:"status,omitempty"`
}

// BGPNodeStatusStatus lists the node's Services, by name.
type BGPNodeStatusStatus struct {
	// AnnouncedServices and HeldServices count the entries of Services by
	// state.
	// +optional
	AnnouncedServices int32 `json:"announcedServices"`
	// +optional
	HeldServices int32 `json:"heldServices"`

	// Services are the Services this node announces to at least one peer,
	// or would announce but holds back, sorted by name.
	// +listType=map
	// +listMapKey=name
	// +optional
	Services []ServiceAnnouncement `json:"services,omitempty"`
}

// Announcement states of a Service on a node.
const (
	AnnouncementAnnounced = "Announced"
	AnnouncementHeld      = "Held"
)

// ServiceAnnouncement is one Service on one node.
type ServiceAnnouncement struct {
	// Name is namespace/name.
	Name string `json:"name"`
	// State is Announced or Held.
	// +kubebuilder:validation:Enum=Announced;Held
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
