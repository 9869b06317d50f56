package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BGPPeerSpec describes one BGP neighbour of the speakers.
//
// +kubebuilder:validation:XValidation:rule="!has(self.holdTime) || duration(self.holdTime) == duration('0s') || (duration(self.holdTime) >= duration('3s') && duration(self.holdTime) <= duration('65535s'))",message="holdTime must be 0s or between 3s and 65535s (RFC 4271)"
// +kubebuilder:validation:XValidation:rule="!has(self.keepaliveTime) || (duration(self.keepaliveTime) >= duration('0s') && duration(self.keepaliveTime) <= duration('21845s'))",message="keepaliveTime must be between 0s and 21845s"
// +kubebuilder:validation:XValidation:rule="!has(self.holdTime) || !has(self.keepaliveTime) || duration(self.holdTime) == duration('0s') || duration(self.keepaliveTime) < duration(self.holdTime)",message="keepaliveTime must be shorter than holdTime"
// +kubebuilder:validation:XValidation:rule="!has(self.connectTime) || (duration(self.connectTime) >= duration('1s') && duration(self.connectTime) <= duration('65535s'))",message="connectTime must be between 1s and 65535s"
// +kubebuilder:validation:XValidation:rule="!has(self.ebgpMultiHop) || self.myASN != self.peerASN",message="ebgpMultiHop applies only to eBGP peers (myASN differs from peerASN)"
// +kubebuilder:validation:XValidation:rule="!has(self.sourceAddress) || ip(self.sourceAddress).family() == ip(self.peerAddress).family()",message="sourceAddress must be of the same IP family as peerAddress"
type BGPPeerSpec struct {
	// MyASN is the speakers' autonomous system number (4-byte ASNs allowed).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	MyASN int64 `json:"myASN"`

	// PeerASN is the neighbour's autonomous system number.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	PeerASN int64 `json:"peerASN"`

	// PeerAddress is the neighbour's IPv4 or IPv6 address.
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="must be an IPv4 or IPv6 address"
	PeerAddress string `json:"peerAddress"`

	// PeerPort is the neighbour's TCP port.
	// +kubebuilder:default=179
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	PeerPort int32 `json:"peerPort,omitempty"`

	// SourceAddress is the local address the session is opened from. By
	// default the kernel picks one.
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="must be an IPv4 or IPv6 address"
	// +optional
	SourceAddress string `json:"sourceAddress,omitempty"`

	// RouterID is the BGP identifier, written as an IPv4 address. By
	// default each speaker uses its node's IPv4 address.
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="must be an IPv4 address"
	// +optional
	RouterID string `json:"routerID,omitempty"`

	// HoldTime proposed in OPEN messages: 0s (no keepalives) or 3s to
	// 65535s. Default 90s.
	// +optional
	HoldTime *metav1.Duration `json:"holdTime,omitempty"`

	// KeepaliveTime between KEEPALIVE messages; shorter than HoldTime.
	// Default: a third of HoldTime.
	// +optional
	KeepaliveTime *metav1.Duration `json:"keepaliveTime,omitempty"`

	// ConnectTime is the wait between attempts to open the session.
	// +kubebuilder:default="10s"
	// +optional
	ConnectTime *metav1.Duration `json:"connectTime,omitempty"`

	// EBGPMultiHop is the TTL of packets to an eBGP neighbour that is not
	// directly connected. Unset means directly connected (TTL 1).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=255
	// +optional
	EBGPMultiHop *int32 `json:"ebgpMultiHop,omitempty"`

	// PasswordSecret references the Secret holding the TCP-MD5 password.
	// The password is never copied into status, events or logs.
	// +optional
	PasswordSecret *SecretKeyReference `json:"passwordSecret,omitempty"`

	// NodeSelectors limit which nodes open a session to this neighbour; a
	// node must match one of them. Empty means every node.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// BFDProfile names the BFDProfile used to watch this session. Empty
	// turns BFD off.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	BFDProfile string `json:"bfdProfile,omitempty"`

	// GracefulRestart (RFC 4724) keeps this node's routes at the neighbour
	// while its speaker restarts.
	// +kubebuilder:default={enabled: true}
	// +optional
	GracefulRestart *GracefulRestart `json:"gracefulRestart,omitempty"`

	// DrainTime is how long a draining node keeps announcing its paths to
	// this neighbour with the graceful-shutdown community 65535:0 (RFC
	// 8326), and LOCAL_PREF 0 if the neighbour is iBGP, before withdrawing
	// them; the session stays up. A node drains when it carries the
	// node.kubernetes.io/exclude-from-external-load-balancers label or the
	// bgplb.io/drain annotation, or when it is cordoned and a
	// BGPAdvertisement sets drainOnCordon. Default 30s.
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="drainTime must be greater than zero"
	// +optional
	DrainTime *metav1.Duration `json:"drainTime,omitempty"`
}

// SecretKeyReference points at one key of a Secret.
type SecretKeyReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Namespace of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// Key within the Secret's data.
	// +kubebuilder:default=password
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}

// GracefulRestart configures BGP graceful restart for one peer.
//
// +kubebuilder:validation:XValidation:rule="!has(self.restartTime) || (duration(self.restartTime) >= duration('1s') && duration(self.restartTime) <= duration('4095s'))",message="restartTime must be between 1s and 4095s (RFC 4724)"
type GracefulRestart struct {
	// Enabled advertises the graceful restart capability.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// RestartTime is how long the neighbour keeps this node's routes after
	// the session drops.
	// +kubebuilder:default="120s"
	// +optional
	RestartTime *metav1.Duration `json:"restartTime,omitempty"`
}

// BGPPeer is a BGP neighbour (usually a router) that the speakers peer
// with.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=bgppeer
// +kubebuilder:printcolumn:name="Peer address",type=string,JSONPath=`.spec.peerAddress`
// +kubebuilder:printcolumn:name="Peer ASN",type=integer,JSONPath=`.spec.peerASN`
// +kubebuilder:printcolumn:name="My ASN",type=integer,JSONPath=`.spec.myASN`
// +kubebuilder:printcolumn:name="BFD",type=string,JSONPath=`.spec.bfdProfile`
// +kubebuilder:printcolumn:name="Drain time",type=string,JSONPath=`.spec.drainTime`,priority=1
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BGPPeerSpec  `json:"spec"`
	Status ConfigStatus `json:"status,omitempty"`
}

// BGPPeerList is a list of BGPPeers.
//
// +kubebuilder:object:root=true
type BGPPeerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPPeer `json:"items"`
}

func init() {
	SchemeBuilder.Register(&BGPPeer{}, &BGPPeerList{})
}
