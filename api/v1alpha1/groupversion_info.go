// Package v1alpha1 holds the configuration API of bgplb (group bgplb.io):
// address pools, BGP peers, advertisements and BFD profiles.
//
// +kubebuilder:object:generate=true
// +groupName=bgplb.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every bgplb object.
	GroupVersion = schema.GroupVersion{Group: "bgplb.io", Version: "v1alpha1"}

	// SchemeBuilder registers the bgplb types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the bgplb types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
