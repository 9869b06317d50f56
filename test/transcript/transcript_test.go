package transcript

import (
	"slices"
	"strings"
	"testing"
)

const doc = "# Title\n\n```sh\n$ not a console block\n```\n\n" +
	"```console\n" +
	"$ kubectl get service hello\n" +
	"NAME    TYPE           EXTERNAL-IP\n" +
	"hello   LoadBalancer   203.0.113.…\n" +
	"\n" +
	"$ kubectl patch endpointslice x \\\n" +
	"    --type=json\n" +
	"$ true\n" +
	"```\n"

func TestParseReadsCommandsContinuationsAndOutputs(t *testing.T) {
	t.Parallel()
	steps, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []Step{
		{Line: 8, Command: "kubectl get service hello", Want: []string{"NAME    TYPE           EXTERNAL-IP", "hello   LoadBalancer   203.0.113.…"}},
		{Line: 12, Command: "kubectl patch endpointslice x \\\n    --type=json"},
		{Line: 14, Command: "true"},
	}
	if len(steps) != len(want) {
		t.Fatalf("got %d steps %+v, want %d", len(steps), steps, len(want))
	}
	for i := range want {
		if steps[i].Line != want[i].Line || steps[i].Command != want[i].Command || !slices.Equal(steps[i].Want, want[i].Want) {
			t.Errorf("step %d = %+v, want %+v", i, steps[i], want[i])
		}
	}
}

func TestParseRefusesBrokenBlocks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ doc, want string }{
		{"```console\noutput first\n```\n", `line 2: output "output first" before any command`},
		{"```console\n$ a \\\n```\n", "line 3: the command of line 2 continues past the end of its block"},
		{"text\n```console\n$ a\n", "line 2: the console block is not closed"},
		{"```console\n$ a\n```\n```console\nb\n```\n", `line 5: output "b" before any command`},
	} {
		_, err := Parse(tc.doc)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", tc.doc, err, tc.want)
		}
	}
}

func TestMatchComparesLineForLineWithElisions(t *testing.T) {
	t.Parallel()
	output := "NAME    TYPE           CLUSTER-IP   EXTERNAL-IP   PORT(S)\n" +
		"hello   LoadBalancer   10.0.0.12    203.0.113.2   80:31234/TCP\n" +
		"\n" +
		"other   ClusterIP      10.0.0.13    <none>        80/TCP\n"
	for _, tc := range []struct {
		name     string
		want     []string
		ok       bool
		firstBad string
	}{
		{"every line, with wildcards and other spacing", []string{"NAME … EXTERNAL-IP …", "hello LoadBalancer … 203.0.113.2 80:…/TCP", "other … <none> …"}, true, ""},
		{"an elision takes the lines left out", []string{"…", "hello LoadBalancer … 203.0.113.2 80:…/TCP", "…"}, true, ""},
		{"an elision may take no line", []string{"NAME …", "…", "hello …", "…", "other …"}, true, ""},
		{"lines left out without an elision", []string{"hello …", "other …"}, false, "hello …"},
		{"output that goes on", []string{"NAME …", "hello …"}, false, "(the end of the output: it goes on)"},
		{"lines in another order", []string{"…", "other …", "hello …", "…"}, false, "hello …"},
		{"a part of a line", []string{"…", "hello LoadBalancer", "…"}, false, "hello LoadBalancer"},
		{"regular expression characters are plain text", []string{"…", "other ClusterIP 10.0.0.1. <none> 80/TCP"}, false, "other ClusterIP 10.0.0.1. <none> 80/TCP"},
	} {
		bad, ok := Match(tc.want, output)
		if ok != tc.ok || bad != tc.firstBad {
			t.Errorf("%s: Match(%q) = %q, %t; want %q, %t", tc.name, tc.want, bad, ok, tc.firstBad, tc.ok)
		}
	}
}
