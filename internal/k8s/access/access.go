// Package access declares, as data, the Kubernetes API access a component
// needs, and checks it with the API server before the component starts: a
// missing permission then shows as one log line naming it, a readiness
// probe that fails and an Event, instead of informers that cannot list,
// a cache that never syncs and a pod in a crash loop.
package access

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Rule is access a component needs, written as a role rule is: every verb
// on every resource of one API group, cluster-wide or in one namespace.
type Rule struct {
	// Group is the API group; "" is the core group.
	Group string
	// Resources are resource names, a subresource after a slash, such as
	// "services/status".
	Resources []string
	Verbs     []string
	// Namespace confines the rule to one namespace; empty means
	// cluster-wide.
	Namespace string
	// Role is the role of the chart (installed as release "bgplb") that
	// grants the rule: a ClusterRole for a cluster-wide rule, a Role in
	// Namespace otherwise. A missing permission's log line names it.
	Role string
}

// Permission is one verb on one resource (or subresource), as a
// SelfSubjectAccessReview asks about it.
type Permission struct {
	Group       string
	Resource    string
	Subresource string
	Verb        string
	// Namespace is empty for a cluster-wide permission.
	Namespace string
	// Role is the chart's role that grants it (see Rule.Role).
	Role string
}

// String names the permission the way an operator writes a role rule:
// "list bgplb.io/bgppeers cluster-wide", "get secrets in namespace x".
func (p Permission) String() string {
	resource := p.Resource
	if p.Subresource != "" {
		resource += "/" + p.Subresource
	}
	if p.Group != "" {
		resource = p.Group + "/" + resource
	}
	scope := "cluster-wide"
	if p.Namespace != "" {
		scope = "in namespace " + p.Namespace
	}
	return p.Verb + " " + resource + " " + scope
}

// grant names the role that grants the permission.
func (p Permission) grant() string {
	if p.Namespace == "" {
		return "ClusterRole " + p.Role
	}
	return "Role " + p.Role + " in namespace " + p.Namespace
}

// key identifies a permission regardless of which role is said to grant
// it.
func (p Permission) key() Permission {
	p.Role = ""
	return p
}

// Permissions expands rules into single permissions, sorted, each once.
func Permissions(rules []Rule) []Permission {
	var out []Permission
	seen := map[Permission]bool{}
	for _, r := range rules {
		for _, res := range r.Resources {
			resource, sub, _ := strings.Cut(res, "/")
			for _, verb := range r.Verbs {
				p := Permission{Group: r.Group, Resource: resource, Subresource: sub, Verb: verb, Namespace: r.Namespace, Role: r.Role}
				if !seen[p.key()] {
					seen[p.key()] = true
					out = append(out, p)
				}
			}
		}
	}
	slices.SortFunc(out, compare)
	return out
}

// compare orders permissions by role, then scope, group, resource and
// verb, so that a message lists together what one role grants.
func compare(a, b Permission) int {
	return cmp.Or(
		cmp.Compare(a.Role, b.Role),
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Group, b.Group),
		cmp.Compare(a.Resource, b.Resource),
		cmp.Compare(a.Subresource, b.Subresource),
		cmp.Compare(a.Verb, b.Verb),
	)
}

// Message is the one line that names every missing permission and the
// chart's role that grants it, such as "missing permission: list
// bgplb.io/bgppeers cluster-wide; grant it through the chart's ClusterRole
// bgplb-speaker". missing must be sorted as Permissions sorts.
func Message(missing []Permission) string {
	if len(missing) == 0 {
		return ""
	}
	var b strings.Builder
	if len(missing) == 1 {
		b.WriteString("missing permission: ")
	} else {
		b.WriteString("missing permissions: ")
	}
	for i := 0; i < len(missing); {
		j := i + 1
		for j < len(missing) && missing[j].Role == missing[i].Role && missing[j].Namespace == missing[i].Namespace {
			j++
		}
		if i > 0 {
			b.WriteString("; ")
		}
		names := make([]string, 0, j-i)
		for _, p := range missing[i:j] {
			names = append(names, p.String())
		}
		pronoun := "it"
		if j-i > 1 {
			pronoun = "them"
		}
		fmt.Fprintf(&b, "%s; grant %s through the chart's %s", strings.Join(names, ", "), pronoun, missing[i].grant())
		i = j
	}
	return b.String()
}
