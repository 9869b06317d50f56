package announce

import "testing"

func TestAppliesToNode(t *testing.T) {
	t.Parallel()
	rack1 := []LabelMatcher{labelsMatch{"rack": "1"}}
	tests := []struct {
		name      string
		selectors []LabelMatcher
		labels    map[string]string
		want      bool
	}{
		{name: "no node selector applies to every node", labels: map[string]string{"rack": "2"}, want: true},
		{name: "a matching selector applies", selectors: rack1, labels: map[string]string{"rack": "1", "zone": "a"}, want: true},
		{name: "a selector that does not match does not apply", selectors: rack1, labels: map[string]string{"rack": "2"}},
		{name: "one of several selectors is enough", selectors: append([]LabelMatcher{labelsMatch{"zone": "b"}}, rack1...),
			labels: map[string]string{"rack": "1"}, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := AppliesToNode(Advertisement{Name: "a", NodeSelectors: tc.selectors}, tc.labels); got != tc.want {
				t.Errorf("AppliesToNode = %v, want %v", got, tc.want)
			}
		})
	}
}
