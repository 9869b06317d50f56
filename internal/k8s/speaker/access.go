package speaker

import (
	"github.com/bgplb/bgplb/internal/k8s/access"
)

// Access is what the speaker asks of the API server, rule for rule as the
// +kubebuilder:rbac markers of manager.go grant it; a test keeps the two
// equal to the role controller-gen generates from the markers. The
// permission preflight checks exactly these: a request missing here would
// go unchecked, and a rule here that no role grants would keep the
// speaker waiting.
func Access(opts Options) []access.Rule {
	read := []string{"get", "list", "watch"}
	const role = "bgplb-speaker"
	rules := []access.Rule{
		{Group: "", Resources: []string{"nodes", "services"}, Verbs: read, Role: role},
		{Group: "discovery.k8s.io", Resources: []string{"endpointslices"}, Verbs: read, Role: role},
		{Group: "bgplb.io", Resources: []string{"ippools", "bgppeers", "bgpadvertisements", "bfdprofiles"}, Verbs: read, Role: role},
		{Group: "bgplb.io", Resources: []string{"bgpnodestatuses"}, Verbs: []string{"get", "list", "watch", "create"}, Role: role},
		{Group: "bgplb.io", Resources: []string{"bgpnodestatuses/status"}, Verbs: []string{"get", "update", "patch"}, Role: role},
		{Group: "events.k8s.io", Resources: []string{"events"}, Verbs: []string{"create", "patch"}, Role: role},
		// Peer passwords are read in the speaker's own namespace only.
		{Group: "", Resources: []string{"secrets"}, Verbs: read, Namespace: opts.Namespace, Role: "bgplb-speaker-secrets"},
	}
	if opts.Metrics.Secure() {
		// Every scrape's token is checked with the API server.
		rules = append(rules,
			access.Rule{Group: "authentication.k8s.io", Resources: []string{"tokenreviews"}, Verbs: []string{"create"}, Role: role},
			access.Rule{Group: "authorization.k8s.io", Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}, Role: role})
	}
	return rules
}
