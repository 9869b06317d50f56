package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BFDProfileSpec sets the timers of BFD sessions (RFC 5880/5881). A
// session is declared down after DetectMultiplier missed packets.
type BFDProfileSpec struct {
	// ReceiveInterval is the minimum interval, in milliseconds, at which
	// this side can receive control packets.
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=60000
	// +optional
	ReceiveInterval *int32 `json:"receiveInterval,omitempty"`

	// TransmitInterval is the minimum interval, in milliseconds, at which
	// this side sends control packets.
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=60000
	// +optional
	TransmitInterval *int32 `json:"transmitInterval,omitempty"`

	// DetectMultiplier is the number of missed packets after which the
	// session goes down.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=255
	// +optional
	DetectMultiplier *int32 `json:"detectMultiplier,omitempty"`

	// PassiveMode waits for the neighbour to send the first packet.
	// +optional
	PassiveMode bool `json:"passiveMode,omitempty"`

	// MinimumTTL is the lowest TTL accepted on incoming packets; 254 means
	// one hop away (RFC 5082).
	// +kubebuilder:default=254
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=254
	// +optional
	MinimumTTL *int32 `json:"minimumTTL,omitempty"`
}

// BFDProfile is a named set of BFD timers that BGPPeers refer to.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=bfdprofile
// +kubebuilder:printcolumn:name="Receive ms",type=integer,JSONPath=`.spec.receiveInterval`
// +kubebuilder:printcolumn:name="Transmit ms",type=integer,JSONPath=`.spec.transmitInterval`
// +kubebuilder:printcolumn:name="Multiplier",type=integer,JSONPath=`.spec.detectMultiplier`
// +kubebuilder:printcolumn:name="Passive",type=boolean,JSONPath=`.spec.passiveMode`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BFDProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BFDProfileSpec `json:"spec,omitempty"`
	Status ConfigStatus   `json:"status,omitempty"`
}

// BFDProfileList is a list of BFDProfiles.
//
// +kubebuilder:object:root=true
type BFDProfileList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BFDProfile `json:"items"`
}

func init() {
	SchemeBuilder.Register(&BFDProfile{}, &BFDProfileList{})
}
