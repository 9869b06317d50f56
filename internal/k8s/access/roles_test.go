package access_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/bgplb/bgplb/internal/k8s/access"
	"github.com/bgplb/bgplb/internal/k8s/controller"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
	"github.com/bgplb/bgplb/internal/k8s/speaker"
	"github.com/bgplb/bgplb/internal/k8s/testenv"
)

// The namespace the markers name, where the chart's defaults install.
const systemNamespace = "bgplb-system"

// components are the Access lists with the options the markers were
// written for: everything in use, in bgplb-system.
var components = []struct {
	name  string
	rules func() []access.Rule
}{
	{"controller", func() []access.Rule {
		return controller.Access(controller.Options{SpeakerNamespace: systemNamespace, CheckPasswordSecrets: true, LeaderElection: true,
			LeaderElectionNamespace: systemNamespace, Metrics: kubeutil.MetricsServing{Addr: ":7472"}})
	}},
	{"speaker", func() []access.Rule {
		return speaker.Access(speaker.Options{Namespace: systemNamespace, Metrics: kubeutil.MetricsServing{Addr: ":7474"}})
	}},
}

// role is a ClusterRole or Role as a manifest holds it.
type role struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Rules []rbacv1.PolicyRule `json:"rules"`
}

// readRoles returns the ClusterRoles and Roles of a manifest file,
// relative to the repository root, and skips every other kind.
func readRoles(t *testing.T, file string) []role {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var roles []role
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return roles
		}
		if err != nil {
			t.Fatalf("read %s: %v", file, err)
		}
		var r role
		if err := yaml.Unmarshal(doc, &r); err != nil {
			t.Fatalf("decode %s: %v", file, err)
		}
		if r.Kind == "ClusterRole" || r.Kind == "Role" {
			roles = append(roles, r)
		}
	}
}

// rulesOf turns the rules of roles into access rules, one per API group.
func rulesOf(roles []role) []access.Rule {
	var out []access.Rule
	for _, r := range roles {
		for _, pr := range r.Rules {
			for _, group := range pr.APIGroups {
				out = append(out, access.Rule{Group: group, Resources: pr.Resources, Verbs: pr.Verbs, Namespace: r.Metadata.Namespace})
			}
		}
	}
	return out
}

// names lists the permissions without the roles said to grant them.
func names(perms []access.Permission) []string {
	out := make([]string, 0, len(perms))
	for _, p := range perms {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestAccessListsEqualTheGeneratedRoles compares each component's Access
// list with the role controller-gen generates from its +kubebuilder:rbac
// markers: the preflight must check exactly what the roles grant.
func TestAccessListsEqualTheGeneratedRoles(t *testing.T) {
	for _, c := range components {
		t.Run(c.name, func(t *testing.T) {
			generated := names(access.Permissions(rulesOf(readRoles(t, "config/rbac/"+c.name+"/role.yaml"))))
			declared := names(access.Permissions(c.rules()))
			for _, p := range declared {
				if !slices.Contains(generated, p) {
					t.Errorf("%s.Access declares %q, which no marker grants", c.name, p)
				}
			}
			for _, p := range generated {
				if !slices.Contains(declared, p) {
					t.Errorf("a marker grants %q, which %s.Access does not declare", p, c.name)
				}
			}
		})
	}
}

// TestAccessNamesTheChartRolesThatGrantIt checks that the role each
// permission's log line names is the chart's role that grants it, in the
// chart's rendering with every option on (release bgplb in bgplb-system).
func TestAccessNamesTheChartRolesThatGrantIt(t *testing.T) {
	chart := readRoles(t, "charts/testdata/everything.yaml")
	for _, c := range components {
		for _, p := range access.Permissions(c.rules()) {
			kind := "ClusterRole"
			if p.Namespace != "" {
				kind = "Role"
			}
			i := slices.IndexFunc(chart, func(r role) bool {
				return r.Kind == kind && r.Metadata.Name == p.Role && r.Metadata.Namespace == p.Namespace
			})
			if i < 0 {
				t.Errorf("%s: %q names %s %s, which the chart does not render", c.name, p, kind, p.Role)
				continue
			}
			if !slices.Contains(names(access.Permissions(rulesOf(chart[i:i+1]))), p.String()) {
				t.Errorf("%s: %q names %s %s, which does not grant it", c.name, p, kind, p.Role)
			}
		}
	}
}
