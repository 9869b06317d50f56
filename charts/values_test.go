package charts

import (
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
)

// TestTheChartLintsClean runs the checks of helm lint --strict: a warning
// fails as an error does.
func TestTheChartLintsClean(t *testing.T) {
	lint := action.NewLint()
	lint.Strict = true
	lint.Namespace = defaultNamespace
	lint.KubeVersion = kubeVersion(t)
	for name, values := range valueSets {
		result := lint.Run([]string{chartDir}, values)
		if result.TotalChartsLinted != 1 {
			t.Errorf("%s: linted %d charts, want 1", name, result.TotalChartsLinted)
		}
		for _, err := range result.Errors {
			t.Errorf("%s: helm lint: %v", name, err)
		}
	}
}

// TestTheSchemaRefusesBadValuesNamingThem renders the chart with values a
// user could get wrong; each must be refused with a message that names the
// bad value's path.
func TestTheSchemaRefusesBadValuesNamingThem(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   []string
	}{
		{"wrong type", map[string]any{"controller": map[string]any{"replicas": "two"}}, []string{"/controller/replicas", "want integer"}},
		{"misspelled key", map[string]any{"speaker": map[string]any{"tolerateControlplane": true}}, []string{"/speaker", "'tolerateControlplane' not allowed"}},
		{"not one of the choices", map[string]any{"controller": map[string]any{"podAntiAffinity": "sometimes"}}, []string{"/controller/podAntiAffinity", "'soft', 'hard', 'none'"}},
		{"negative grace", map[string]any{"speaker": map[string]any{"shutdownGraceSeconds": -1}}, []string{"/speaker/shutdownGraceSeconds", "minimum"}},
		{"unknown top-level key", map[string]any{"metric": map[string]any{"secure": false}}, []string{"'metric' not allowed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := render(t, defaultRelease, defaultNamespace, tc.values)
			if err == nil {
				t.Fatalf("values %v were accepted", tc.values)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
