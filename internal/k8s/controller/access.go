package controller

import (
	"github.com/bgplb/bgplb/internal/k8s/access"
)

// Access is what the controller asks of the API server with opts (after
// NewManager's defaults), rule for rule as the +kubebuilder:rbac markers of
// manager.go grant it; a test keeps the two equal to the role
// controller-gen generates from the markers. The permission preflight
// checks exactly these: a request missing here would go unchecked, and a
// rule here that no role grants would keep the controller waiting.
func Access(opts Options) []access.Rule {
	read := []string{"get", "list", "watch"}
	writeStatus := []string{"get", "patch", "update"}
	const role = "bgplb-controller"
	rules := []access.Rule{
		{Group: "", Resources: []string{"services"}, Verbs: []string{"get", "list", "watch", "patch"}, Role: role},
		{Group: "", Resources: []string{"services/status"}, Verbs: writeStatus, Role: role},
		{Group: "", Resources: []string{"namespaces"}, Verbs: read, Role: role},
		{Group: "bgplb.io", Resources: []string{"ippools", "bgpadvertisements", "bgppeers", "bfdprofiles"}, Verbs: read, Role: role},
		{Group: "bgplb.io", Resources: []string{"ippools/status", "bgpadvertisements/status", "bgppeers/status", "bfdprofiles/status"}, Verbs: writeStatus, Role: role},
		{Group: "events.k8s.io", Resources: []string{"events"}, Verbs: []string{"create", "patch"}, Role: role},
	}
	if opts.CheckPasswordSecrets {
		// Which keys the peer password Secrets have, in the speakers'
		// namespace only.
		rules = append(rules, access.Rule{Group: "", Resources: []string{"secrets"}, Verbs: read, Namespace: opts.SpeakerNamespace, Role: "bgplb-controller-secrets"})
	}
	// Without a namespace controller-runtime takes the pod's own, which is
	// not known here; such a lease goes unchecked.
	if opts.LeaderElection && opts.LeaderElectionNamespace != "" {
		rules = append(rules,
			access.Rule{Group: "coordination.k8s.io", Resources: []string{"leases"},
				Verbs: []string{"get", "list", "watch", "create", "update", "patch"}, Namespace: opts.LeaderElectionNamespace, Role: "bgplb-controller-leader-election"},
			access.Rule{Group: "", Resources: []string{"events"}, Verbs: []string{"create", "patch"},
				Namespace: opts.LeaderElectionNamespace, Role: "bgplb-controller-leader-election"})
	}
	if opts.Metrics.Secure() {
		// Every scrape's token is checked with the API server.
		rules = append(rules,
			access.Rule{Group: "authentication.k8s.io", Resources: []string{"tokenreviews"}, Verbs: []string{"create"}, Role: role},
			access.Rule{Group: "authorization.k8s.io", Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}, Role: role})
	}
	return rules
}
