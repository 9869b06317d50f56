package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AddressRange is a CIDR ("203.0.113.0/24", "2001:db8:100::/64") or an
// inclusive range of two addresses of one family
// ("203.0.113.10-203.0.113.20").
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=100
// +kubebuilder:validation:XValidation:rule="isCIDR(self) || (self.split('-').size() == 2 && isIP(self.split('-')[0].trim()) && isIP(self.split('-')[1].trim()))",message="must be a CIDR such as 203.0.113.0/24 or a range such as 203.0.113.10-203.0.113.20"
// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || cidr(self) == cidr(self).masked()",message="a CIDR must not have host bits set"
// +kubebuilder:validation:XValidation:rule="isCIDR(self) || self.split('-').size() != 2 || !isIP(self.split('-')[0].trim()) || !isIP(self.split('-')[1].trim()) || ip(self.split('-')[0].trim()).family() == ip(self.split('-')[1].trim()).family()",message="both ends of a range must be of one IP family"
type AddressRange string

// IPPoolSpec defines which addresses a pool hands out and to whom.
// +kubebuilder:validation:XValidation:rule="!has(self.avoidBuggyIPs) || !self.avoidBuggyIPs || self.addresses.exists(a, !a.contains(':'))",message="avoidBuggyIPs applies to IPv4 only, but the pool has no IPv4 addresses"
type IPPoolSpec struct {
	// Addresses of the pool, one family per entry; a pool may hold both
	// IPv4 and IPv6 entries.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	// +listType=set
	Addresses []AddressRange `json:"addresses"`

	// AutoAssign lets the controller hand out addresses of this pool to any
	// eligible Service. When false, only Services that ask for the pool by
	// name or for one of its addresses get addresses from it.
	// +kubebuilder:default=true
	// +optional
	AutoAssign *bool `json:"autoAssign,omitempty"`

	// AvoidBuggyIPs skips IPv4 addresses ending in .0 and .255, which some
	// old client software and routers mishandle.
	// +optional
	AvoidBuggyIPs bool `json:"avoidBuggyIPs,omitempty"`

	// ServiceAllocation limits the pool to some namespaces and Services and
	// orders it against other pools.
	// +optional
	ServiceAllocation *ServiceAllocation `json:"serviceAllocation,omitempty"`

	// Director makes every node that serves an address of this pool
	// forward each packet to the node that owns its connection, so that a
	// change of the nodes serving the address (a drain, a join, a pod
	// moving) breaks no connection, however the routers hash. Off unless
	// set; docs/director.md says what it needs and what it costs.
	// +optional
	Director *PoolDirector `json:"director,omitempty"`
}

// PoolDirector turns on forwarding to flow owners for a pool's addresses.
type PoolDirector struct {
	// Enabled turns the director on for the pool's addresses.
	Enabled bool `json:"enabled"`

	// DrainTimeout bounds how long a node that stops serving an address
	// keeps serving the connections it owns, as their second owner, after
	// it has withdrawn its paths. It leaves earlier when it has no
	// connection to the address left.
	// +kubebuilder:default="5m"
	// +optional
	DrainTimeout *metav1.Duration `json:"drainTimeout,omitempty"`
}

// ServiceAllocation restricts and orders automatic assignment from a pool.
type ServiceAllocation struct {
	// Priority orders pools for automatic assignment: lower numbers are
	// tried first, and pools without a priority come after all pools with
	// one.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Priority int32 `json:"priority,omitempty"`

	// Namespaces whose Services may use the pool. Together with
	// NamespaceSelectors: a Service may use the pool if its namespace is
	// listed or matches a selector. Both empty means every namespace.
	// +kubebuilder:validation:MaxItems=256
	// +listType=set
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`

	// NamespaceSelectors select namespaces by label.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	NamespaceSelectors []metav1.LabelSelector `json:"namespaceSelectors,omitempty"`

	// ServiceSelectors select Services by label; a Service must match one
	// of them. Empty means every Service.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`
}

// FamilyUsage counts the addresses of one IP family in a pool.
type FamilyUsage struct {
	// Assigned is the number of distinct addresses held by Services; a
	// shared address counts once.
	Assigned int64 `json:"assigned"`
	// Available is the number of addresses still free. For pools larger
	// than 2^63 addresses it saturates at 9223372036854775807.
	Available int64 `json:"available"`
}

// IPPoolStatus is written by the controller.
type IPPoolStatus struct {
	// IPv4 usage, present when the pool has IPv4 addresses.
	// +optional
	IPv4 *FamilyUsage `json:"ipv4,omitempty"`
	// IPv6 usage, present when the pool has IPv6 addresses.
	// +optional
	IPv6 *FamilyUsage `json:"ipv6,omitempty"`
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Accepted says whether the pool is in use.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// IPPool is a set of addresses that the controller assigns to Services of
// type LoadBalancer.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ippool
// +kubebuilder:printcolumn:name="Auto assign",type=boolean,JSONPath=`.spec.autoAssign`
// +kubebuilder:printcolumn:name="IPv4 assigned",type=integer,JSONPath=`.status.ipv4.assigned`
// +kubebuilder:printcolumn:name="IPv4 available",type=integer,JSONPath=`.status.ipv4.available`
// +kubebuilder:printcolumn:name="IPv6 assigned",type=integer,JSONPath=`.status.ipv6.assigned`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IPPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   IPPoolSpec   `json:"spec"`
	Status IPPoolStatus `json:"status,omitempty"`
}

// IPPoolList is a list of IPPools.
//
// +kubebuilder:object:root=true
type IPPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPPool `json:"items"`
}

func init() {
	SchemeBuilder.Register(&IPPool{}, &IPPoolList{})
}
