package access

import (
	"slices"
	"testing"
	"unicode/utf8"
)

func TestPermissionsExpandRulesOncePerVerbAndResource(t *testing.T) {
	got := Permissions([]Rule{
		{Group: "bgplb.io", Resources: []string{"bgppeers", "bgpnodestatuses/status"}, Verbs: []string{"get", "update"}, Role: "r"},
		// The same permission again, also said to come from another role:
		// it is asked about once.
		{Group: "bgplb.io", Resources: []string{"bgppeers"}, Verbs: []string{"get"}, Role: "other"},
		{Resources: []string{"secrets"}, Verbs: []string{"list"}, Namespace: "ns", Role: "r-secrets"},
	})
	var names []string
	for _, p := range got {
		names = append(names, p.String())
	}
	want := []string{
		"get bgplb.io/bgpnodestatuses/status cluster-wide",
		"update bgplb.io/bgpnodestatuses/status cluster-wide",
		"get bgplb.io/bgppeers cluster-wide",
		"update bgplb.io/bgppeers cluster-wide",
		"list secrets in namespace ns",
	}
	if !slices.Equal(names, want) {
		t.Errorf("permissions:\n got %q\nwant %q", names, want)
	}
	if got[1].Subresource != "status" || got[1].Resource != "bgpnodestatuses" {
		t.Errorf("subresource not split: %+v", got[1])
	}
}

func TestMessageNamesEveryMissingPermissionAndItsRole(t *testing.T) {
	one := Permissions([]Rule{{Group: "bgplb.io", Resources: []string{"bgppeers"}, Verbs: []string{"list"}, Role: "bgplb-speaker"}})
	if got, want := Message(one), "missing permission: list bgplb.io/bgppeers cluster-wide; grant it through the chart's ClusterRole bgplb-speaker"; got != want {
		t.Errorf("one permission:\n got %q\nwant %q", got, want)
	}
	several := Permissions([]Rule{
		{Group: "bgplb.io", Resources: []string{"bgppeers"}, Verbs: []string{"list", "watch"}, Role: "bgplb-speaker"},
		{Resources: []string{"secrets"}, Verbs: []string{"get"}, Namespace: "bgplb-system", Role: "bgplb-speaker-secrets"},
	})
	want := "missing permissions: list bgplb.io/bgppeers cluster-wide, watch bgplb.io/bgppeers cluster-wide; " +
		"grant them through the chart's ClusterRole bgplb-speaker; " +
		"get secrets in namespace bgplb-system; grant it through the chart's Role bgplb-speaker-secrets in namespace bgplb-system"
	if got := Message(several); got != want {
		t.Errorf("several permissions:\n got %q\nwant %q", got, want)
	}
	if got := Message(nil); got != "" {
		t.Errorf("nothing missing: %q", got)
	}
}

func TestReportGrantedIsFalseOnlyForAMissingClusterWidePermission(t *testing.T) {
	r := Report{Missing: Permissions([]Rule{
		{Group: "bgplb.io", Resources: []string{"bgpnodestatuses/status"}, Verbs: []string{"update"}},
		{Resources: []string{"secrets"}, Verbs: []string{"get"}, Namespace: "ns"},
	})}
	for _, c := range []struct {
		group, resource, verb string
		want                  bool
	}{
		{"bgplb.io", "bgpnodestatuses/status", "update", false},
		{"bgplb.io", "bgpnodestatuses", "update", true},
		{"bgplb.io", "bgpnodestatuses/status", "patch", true},
		{"events.k8s.io", "events", "create", true},
		// Missing in one namespace is not missing cluster-wide.
		{"", "secrets", "get", true},
	} {
		if got := r.Granted(c.group, c.resource, c.verb); got != c.want {
			t.Errorf("Granted(%q, %q, %q) = %v, want %v", c.group, c.resource, c.verb, got, c.want)
		}
	}
}

func TestCutKeepsWholeCharacters(t *testing.T) {
	s := "permissions: ééééé"
	for n := 5; n < len(s); n++ {
		got := cut(s, n)
		if len(got) > n {
			t.Errorf("cut(%d) is %d bytes", n, len(got))
		}
		if !utf8.ValidString(got) {
			t.Errorf("cut(%d) = %q breaks a character", n, got)
		}
	}
}
