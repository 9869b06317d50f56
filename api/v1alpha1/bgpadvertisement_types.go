package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Community is a BGP community: standard "65000:100" (two 16-bit numbers),
// large "4200000000:1:2" (three 32-bit numbers, RFC 8092), or one of the
// well-known names no-export, no-advertise, no-export-subconfed, no-peer.
//
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:XValidation:rule="self in ['no-export', 'no-advertise', 'no-export-subconfed', 'no-peer'] || (self.matches('^[0-9]{1,5}:[0-9]{1,5}$') && self.split(':').all(p, int(p) <= 65535)) || (self.matches('^[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$') && self.split(':').all(p, int(p) <= 4294967295))",message="must be a standard community a:b (each 0-65535), a large community a:b:c (each 0-4294967295) or a well-known name (no-export, no-advertise, no-export-subconfed, no-peer)"
type Community string

// BGPAdvertisementSpec says which Service addresses are announced, from
// which nodes, to which peers and with which attributes.
type BGPAdvertisementSpec struct {
	// IPPools selects pools by name. Together with IPPoolSelectors: a
	// Service address is announced if its pool is listed or matches a
	// selector. Both empty means every pool.
	// +kubebuilder:validation:MaxItems=256
	// +listType=set
	// +optional
	IPPools []string `json:"ipPools,omitempty"`

	// IPPoolSelectors select pools by label.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	IPPoolSelectors []metav1.LabelSelector `json:"ipPoolSelectors,omitempty"`

	// ServiceSelectors select Services by label; a Service must match one.
	// Empty means every Service.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`

	// NodeSelectors limit the nodes that announce; a node must match one.
	// Empty means every node.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// Peers names the BGPPeers to announce to. Empty means every peer.
	// +kubebuilder:validation:MaxItems=256
	// +listType=set
	// +optional
	Peers []string `json:"peers,omitempty"`

	// AggregationLength is the prefix length announced for IPv4 addresses;
	// 32 announces each address, shorter lengths the covering prefix.
	// +kubebuilder:default=32
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=32
	// +optional
	AggregationLength *int32 `json:"aggregationLength,omitempty"`

	// AggregationLengthV6 is the prefix length announced for IPv6 addresses.
	// +kubebuilder:default=128
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	// +optional
	AggregationLengthV6 *int32 `json:"aggregationLengthV6,omitempty"`

	// LocalPref is sent as LOCAL_PREF to iBGP peers only (eBGP peers never
	// receive it).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +optional
	LocalPref *int64 `json:"localPref,omitempty"`

	// Communities attached to the announced paths.
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +optional
	Communities []Community `json:"communities,omitempty"`

	// ASPathPrepend adds the speakers' own ASN to the AS path, making the
	// paths less preferred elsewhere.
	// +optional
	ASPathPrepend *ASPathPrepend `json:"asPathPrepend,omitempty"`

	// MED is sent as MULTI_EXIT_DISC.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +optional
	MED *int64 `json:"med,omitempty"`

	// DrainOnCordon drains the paths of this advertisement from a node
	// while the node is cordoned (spec.unschedulable): they are announced
	// with the graceful-shutdown community 65535:0 (RFC 8326) for each
	// BGPPeer's drainTime, then withdrawn. A path announced by several
	// advertisements drains if one of them sets drainOnCordon. Off by
	// default: cordoning a node then changes nothing it announces.
	// +kubebuilder:default=false
	// +optional
	DrainOnCordon bool `json:"drainOnCordon,omitempty"`

	// WeightByEndpoints attaches the BGP link-bandwidth extended community
	// to the paths of externalTrafficPolicy: Local Services, with a value
	// proportional to the node's ready endpoints of the Service, so that a
	// router doing weighted ECMP sends a node with three endpoints three
	// times the traffic of a node with one. Cluster Services are announced
	// without weight, and the speaker reports them. Off by default.
	// +optional
	WeightByEndpoints bool `json:"weightByEndpoints,omitempty"`

	// AdditionHold holds back a node that starts announcing a Service
	// address which other nodes already announce: adding a next hop makes
	// routers re-hash existing connections, so the addition can wait for a
	// minimum delay and for a change window. Withdrawals are never held,
	// and neither is a Service that no node announces yet. An operator
	// releases held additions of a Service at once with the annotation
	// bgplb.io/release-held-additions. Off when unset.
	// +optional
	AdditionHold *AdditionHold `json:"additionHold,omitempty"`
}

// AdditionHold says how long a new next hop for a Service address waits.
// With both fields set, an addition waits for the delay and then for a
// window.
//
// +kubebuilder:validation:XValidation:rule="has(self.minDelay) || (has(self.windows) && size(self.windows) > 0)",message="set minDelay, windows or both"
// +kubebuilder:validation:XValidation:rule="!has(self.minDelay) || duration(self.minDelay) >= duration('0s')",message="minDelay must not be negative"
type AdditionHold struct {
	// MinDelay is how long a node waits after it could start announcing a
	// Service address before it does.
	// +optional
	MinDelay *metav1.Duration `json:"minDelay,omitempty"`

	// Windows are daily times at which held additions may happen; outside
	// every window they wait for the next one to open.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Windows []ChangeWindow `json:"windows,omitempty"`
}

// ChangeWindow is a daily period, such as 02:00 to 04:00 in Europe/Berlin.
// An end before the start crosses midnight.
type ChangeWindow struct {
	// Start is the time of day the window opens, as HH:MM (24-hour clock).
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	Start string `json:"start"`
	// End is the time of day the window closes, as HH:MM. It must differ
	// from Start.
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	End string `json:"end"`
	// TimeZone is an IANA time zone name, such as Europe/Berlin; UTC by
	// default.
	// +kubebuilder:default=UTC
	// +optional
	TimeZone string `json:"timeZone,omitempty"`
}

// ASPathPrepend repeats an ASN in front of the AS path.
type ASPathPrepend struct {
	// Count of extra copies.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16
	Count int32 `json:"count"`
	// ASN to prepend; by default the peer's myASN.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +optional
	ASN *int64 `json:"asn,omitempty"`
}

// BGPAdvertisement selects Service addresses to announce over BGP and the
// path attributes to announce them with.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=bgpadv
// +kubebuilder:printcolumn:name="Pools",type=string,JSONPath=`.spec.ipPools`
// +kubebuilder:printcolumn:name="Peers",type=string,JSONPath=`.spec.peers`
// +kubebuilder:printcolumn:name="Drain on cordon",type=boolean,JSONPath=`.spec.drainOnCordon`,priority=1
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPAdvertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BGPAdvertisementSpec `json:"spec,omitempty"`
	Status ConfigStatus         `json:"status,omitempty"`
}

// BGPAdvertisementList is a list of BGPAdvertisements.
//
// +kubebuilder:object:root=true
type BGPAdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPAdvertisement `json:"items"`
}

func init() {
	SchemeBuilder.Register(&BGPAdvertisement{}, &BGPAdvertisementList{})
}
