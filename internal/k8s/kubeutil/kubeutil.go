// Package kubeutil holds what the controller and the speaker both need to
// talk to Kubernetes: the scheme of the objects they read and write, label
// selectors in the form the pure packages take, and how they serve metrics.
package kubeutil

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/bgplb/bgplb/api/v1alpha1"
)

// Scheme returns the built-in Kubernetes types and bgplb's own.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Matcher is a Kubernetes label selector with the method the pure packages
// ask for (ipam.LabelMatcher, announce.LabelMatcher), so that they stay free
// of Kubernetes types.
type Matcher struct{ selector labels.Selector }

// Matches tells whether the labels match the selector.
func (m Matcher) Matches(l map[string]string) bool {
	return m.selector.Matches(labels.Set(l))
}

// Matchers converts selectors into the matcher interface M of a pure
// package. An invalid selector is reported with its field and index, such
// as "spec.nodeSelectors[1]: ...".
func Matchers[M interface{ Matches(map[string]string) bool }](field string, selectors []metav1.LabelSelector) ([]M, error) {
	out := make([]M, 0, len(selectors))
	for i := range selectors {
		s, err := metav1.LabelSelectorAsSelector(&selectors[i])
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", field, i, err)
		}
		out = append(out, any(Matcher{s}).(M))
	}
	return out, nil
}
