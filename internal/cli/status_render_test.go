package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
)

// sampleReport has a bit of everything: sessions up and down, one without
// the BFD its peer asks for, configuration refused by every node and by
// one, a node without speaker, excluded, annotated and cordoned nodes,
// Local and Cluster Services with held, draining and endpoint-less nodes,
// an unannounced Service, Services without an address with and without
// the controller's reason, and pools.
func sampleReport() statusReport {
	const web, api, db = "shop/web", "shop/api", "shop/db"
	const weird = `BGPAdvertisement/weird: spec.communities[0]: invalid community "x"`
	bad := speakerStatus("node-b", []v1alpha1.PeerSession{
		established("router-1"),
		// A session that went down keeps its speaker's last prefix count
		// and BFD state, which the output must not show as live.
		{Peer: "router-2", PeerAddress: "198.18.0.2", State: "Active", Since: ago(5*time.Minute + 3*time.Second), PrefixesSent: 3, BFD: "Up",
			LastError: "hold timer expired"},
	}, held(web, later(12*time.Minute)), announced(api))
	bad = refusing(bad, weird+`; BGPPeer/router-2: spec.passwordSecret: Secret "bgp" has no key "password"`)
	long := established("router-1")
	long.Since = ago(50 * time.Hour)
	return buildReport(statusInputs{
		Now: statusNow,
		Nodes: []corev1.Node{testNode("node-a"), testNode("node-b"), testNode("node-c", excluded), testNode("node-d"),
			testNode("node-e", draining), testNode("node-f", cordoned, labelled("rack", "a")), testNode("node-g", cordoned)},
		NodeStatuses: []v1alpha1.BGPNodeStatus{
			refusing(speakerStatus("node-a", []v1alpha1.PeerSession{long, established("router-2")}, announced(web), announced(api)), weird),
			bad,
			refusing(speakerStatus("node-c", []v1alpha1.PeerSession{withBFD(established("router-1"), "Down")}), weird),
			refusing(speakerStatus("node-e", []v1alpha1.PeerSession{established("router-1")}), weird),
			refusing(speakerStatus("node-f", []v1alpha1.PeerSession{established("router-1")}), weird),
			refusing(speakerStatus("node-g", []v1alpha1.PeerSession{established("router-1")}, announced(api)), weird),
		},
		Services: []corev1.Service{
			lbService(web, corev1.ServiceExternalTrafficPolicyLocal, "203.0.113.10", "2001:db8:100::10"),
			lbService(api, corev1.ServiceExternalTrafficPolicyCluster, "203.0.113.11"),
			lbService(db, corev1.ServiceExternalTrafficPolicyLocal, "203.0.113.12"),
			pendingService("shop/new", nil), pendingService("shop/quiet", nil),
		},
		Events:         []eventsv1.Event{allocationFailed("shop/new", `pool "spare" is not in use because it was rejected: overlapping ranges`, 3*time.Minute)},
		EndpointSlices: []discoveryv1.EndpointSlice{endpointSlice(web, ready("node-a"), ready("node-b"), ready("node-c"))},
		Peers:          []v1alpha1.BGPPeer{bgpPeer("router-1", "fast"), bgpPeer("router-2", "")},
		// Cordoned nodes of rack a drain.
		Advertisements: []v1alpha1.BGPAdvertisement{advertisement("default", false), advertisement("maintenance", true, "rack", "a")},
		Pools: []v1alpha1.IPPool{
			withAddresses(testPool("public", &v1alpha1.FamilyUsage{Assigned: 3, Available: 253}, &v1alpha1.FamilyUsage{Assigned: 1, Available: 1<<63 - 1}, acceptedTrue),
				"203.0.113.0/24", "2001:db8:100::/64"),
			testPool("spare", &v1alpha1.FamilyUsage{Assigned: 0, Available: 16}, nil,
				&metav1.Condition{Type: v1alpha1.ConditionAccepted, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonOverlap, Message: "203.0.113.0/28 overlaps IPPool public"}),
		},
	})
}

// The plain text of sampleReport, as a pipe or a file gets it.
const samplePlain = `Nodes: 7, 3 draining
NODE    ESTABLISHED  NOTES
node-a  2/2
node-b  1/2
node-c  1/1          excluded (label node.kubernetes.io/exclude-from-external-load-balancers)
node-d  -            no speaker status (no BGPNodeStatus)
node-e  1/1          draining (annotation bgplb.io/drain)
node-f  1/1          cordoned (advertisement maintenance drains on cordon)
node-g  1/1          cordoned (no advertisement drains on cordon, so it announces as usual)

Sessions: 7 of 8 Established
NODE    PEER      ADDRESS     STATE        UP/DOWN  PREFIXES  BFD   GR   LAST ERROR
node-a  router-1  198.18.0.1  Established  2d2h     2         Up    yes
node-a  router-2  198.18.0.1  Established  60m      2         Up    yes
node-b  router-1  198.18.0.1  Established  60m      2         Up    yes
node-b  router-2  198.18.0.2  Active       5m3s     -         -     -    hold timer expired
node-c  router-1  198.18.0.1  Established  60m      2         Down  yes
node-e  router-1  198.18.0.1  Established  60m      2         Up    yes
node-f  router-1  198.18.0.1  Established  60m      2         Up    yes
node-g  router-1  198.18.0.1  Established  60m      2         Up    yes
speaker configuration invalid on every node: BGPAdvertisement/weird: spec.communities[0]: invalid community "x"
speaker configuration invalid on node node-b: BGPPeer/router-2: spec.passwordSecret: Secret "bgp" has no key "password"

Services: 5, 2 without an address, 1 announced by no node
SERVICE     ADDRESSES                      POOL    POLICY   ANNOUNCED BY
shop/api    203.0.113.11                   public  Cluster  node-a, node-b, node-g
  not announced by node-c: excluded (label node.kubernetes.io/exclude-from-external-load-balancers)
  not announced by node-d: no speaker status
  not announced by node-e: draining (annotation bgplb.io/drain)
  not announced by node-f: cordoned (advertisement maintenance drains on cordon)
shop/db     203.0.113.12                   public  Local    NONE: not announced
  not announced: no node has a ready endpoint
shop/new    <pending>                      -       Cluster  -
  pending: pool "spare" is not in use because it was rejected: overlapping ranges (AllocationFailed Event, 3m ago)
shop/quiet  <pending>                      -       Cluster  -
  pending: no AllocationFailed Event of the bgplb controller says why (is the controller running and serving the Service's load balancer class? its Events expire after an hour)
shop/web    203.0.113.10,2001:db8:100::10  public  Local    node-a
  held: node-b until 2026-11-24T07:12:00Z (in 12m)
  not announced by node-c: excluded (label node.kubernetes.io/exclude-from-external-load-balancers)
  not announced by node-d: no ready endpoint, no speaker status
  not announced by node-e: no ready endpoint, draining (annotation bgplb.io/drain)
  not announced by node-f: no ready endpoint, cordoned (advertisement maintenance drains on cordon)
  not announced by node-g: no ready endpoint

Pools: 2
POOL    FAMILY  ASSIGNED  USED  STATUS
public  IPv4    3/256     1.2%  Accepted
public  IPv6    1/2^64    0.0%  Accepted
spare   IPv4    0/16      0.0%  not accepted: 203.0.113.0/28 overlaps IPPool public

Problems (8):
  - session node-b to router-2 is Active: hold timer expired
  - session node-c to router-1: BFD is Down although the peer asks for BFD profile fast
  - speaker configuration invalid on every node: BGPAdvertisement/weird: spec.communities[0]: invalid community "x"
  - speaker configuration invalid on node node-b: BGPPeer/router-2: spec.passwordSecret: Secret "bgp" has no key "password"
  - Service shop/db is announced by no node: no node has a ready endpoint
  - Service shop/new has no address: pool "spare" is not in use because it was rejected: overlapping ranges
  - Service shop/quiet has no address: no AllocationFailed Event of the bgplb controller says why (is the controller running and serving the Service's load balancer class? its Events expire after an hour)
  - IPPool spare is not accepted: 203.0.113.0/28 overlaps IPPool public
`

func TestStatusTextIsPlainWhenNotATerminal(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm")
	var b bytes.Buffer
	if err := writeStatusText(&b, sampleReport(), useColor(colorAuto, &b)); err != nil {
		t.Fatal(err)
	}
	if b.String() != samplePlain {
		t.Errorf("got\n%s\nwant\n%s", b.String(), samplePlain)
	}
}

func TestUseColor(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	// /dev/null is a character device like a terminal.
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	tests := []struct {
		name    string
		mode    colorMode
		w       io.Writer
		noColor string
		want    bool
	}{
		{name: "auto does not color a buffer", mode: colorAuto, w: &bytes.Buffer{}},
		{name: "auto does not color a pipe", mode: colorAuto, w: pw},
		{name: "auto colors a character device", mode: colorAuto, w: devNull, want: true},
		{name: "auto honours NO_COLOR", mode: colorAuto, w: devNull, noColor: "1"},
		{name: "always colors a pipe", mode: colorAlways, w: pw, noColor: "1", want: true},
		{name: "never colors nothing", mode: colorNever, w: devNull},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tc.noColor)
			t.Setenv("TERM", "xterm")
			if got := useColor(tc.mode, tc.w); got != tc.want {
				t.Errorf("useColor = %v, want %v", got, tc.want)
			}
		})
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestStatusTextColorsStatesAndKeepsColumnsAligned(t *testing.T) {
	var b bytes.Buffer
	if err := writeStatusText(&b, sampleReport(), useColor(colorAlways, &b)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"\x1b[32mEstablished\x1b[0m", "\x1b[31mActive\x1b[0m",
		"\x1b[33mdraining (annotation bgplb.io/drain)\x1b[0m",
		"\x1b[31m<pending>\x1b[0m", "  \x1b[31mpending: pool \"spare\" is not in use",
		"\x1b[31mNONE: not announced\x1b[0m",
		"  \x1b[33mheld: node-b until 2026-11-24T07:12:00Z (in 12m)\x1b[0m",
		"\x1b[31mspeaker configuration invalid on every node: BGPAdvertisement/weird:",
		"\x1b[31mnot accepted: 203.0.113.0/28 overlaps IPPool public\x1b[0m",
		"\x1b[31mProblems (8):\x1b[0m",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("colored output lacks %q:\n%s", want, out)
		}
	}
	if plain := ansi.ReplaceAllString(out, ""); plain != samplePlain {
		t.Errorf("without its colors the output is\n%s\nwant the plain output\n%s", plain, samplePlain)
	}
}

func TestStatusHealthyTextSaysSo(t *testing.T) {
	var b bytes.Buffer
	r := buildReport(statusInputs{Now: statusNow})
	if err := writeStatusText(&b, r, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Nodes: 0, 0 draining\n", "Sessions: 0 of 0 Established\n", "Services: 0, 0 without an address, 0 announced by no node\n", "Pools: 0\n", "No problems.\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}

func TestStatusJSONRoundTrips(t *testing.T) {
	everywhere := buildReport(statusInputs{Now: statusNow,
		Nodes:          []corev1.Node{testNode("a")},
		NodeStatuses:   []v1alpha1.BGPNodeStatus{speakerStatus("a", nil, announced("shop/web"))},
		Services:       []corev1.Service{lbService("shop/web", corev1.ServiceExternalTrafficPolicyLocal, "203.0.113.10")},
		EndpointSlices: []discoveryv1.EndpointSlice{endpointSlice("shop/web", ready("a"))},
	})
	for name, want := range map[string]statusReport{"sample": sampleReport(), "announced everywhere": everywhere,
		"empty": buildReport(statusInputs{Now: statusNow})} {
		var b bytes.Buffer
		if err := writeStatusJSON(&b, want); err != nil {
			t.Fatal(err)
		}
		var got statusReport
		if err := json.Unmarshal(b.Bytes(), &got); err != nil {
			t.Fatalf("%s: decode %s: %v", name, b.String(), err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: round trip changed the report:\n%+v\nwant\n%+v", name, got, want)
		}
	}
	var b bytes.Buffer
	if err := writeStatusJSON(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	// Scripts rely on these names.
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"generatedAt", "healthy", "problems", "nodes", "sessions", "services", "pools"} {
		if _, ok := doc[key]; !ok {
			t.Errorf("JSON lacks %q", key)
		}
	}
	// A session that is down has no live prefix count or BFD state.
	for _, s := range doc["sessions"].([]any) {
		session := s.(map[string]any)
		_, prefixes := session["prefixesSent"]
		_, bfd := session["bfd"]
		if established := session["established"].(bool); prefixes != established || bfd != established {
			t.Errorf("JSON session %v: want prefixesSent and bfd exactly when Established", session)
		}
	}
	for _, want := range []string{`"pending": true`, `"pendingReason": "pool \"spare\" is not in use`,
		`"pendingReasonAt": "2026-11-24T06:57:00Z"`, `"drainOnCordonBy": [`, `"configurationProblems": [`, `"everyNode": true`,
		`"bfdProfile": "fast"`, `"notAnnouncing": [`, `"reasons": [`, `"heldUntil": "2026-11-24T07:12:00Z"`, `"announcedBy": [`,
		`"externalTrafficPolicy": "Local"`, `"usedPercent": 1.2`, `"secondsInState": 180000`, `"state": "Active"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b.String())
		}
	}
}

func TestFormatCount(t *testing.T) {
	pow2 := func(k uint) *big.Int { return new(big.Int).Lsh(big.NewInt(1), k) }
	minus := func(a *big.Int, b int64) *big.Int { return new(big.Int).Sub(a, big.NewInt(b)) }
	tests := []struct {
		n    *big.Int
		want string
	}{
		{big.NewInt(0), "0"},
		{big.NewInt(256), "256"},
		{big.NewInt(999_999), "999999"},
		{big.NewInt(1_000_000), "1M"},
		{big.NewInt(1_048_576), "1.05M"},
		{pow2(32), "4.29G"},
		{minus(pow2(63), 1), "2^63"},
		{pow2(64), "2^64"},
		// A /64 less its subnet-router anycast address.
		{minus(pow2(64), 1), "2^64"},
		// Three /65s.
		{new(big.Int).Mul(big.NewInt(3), pow2(63)), "2^64.6"},
		// A /48 less the anycast address of each /64.
		{minus(pow2(80), 1<<16), "2^80"},
		{minus(pow2(128), 1), "2^128"},
	}
	for _, tt := range tests {
		if got := formatCount(tt.n); got != tt.want {
			t.Errorf("formatCount(%v) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestNameListCountsNamesPastItsLimit(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	if got, want := nameList(names), "a, b, c, d, e, f and 2 more"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := nameList(names[:6]), "a, b, c, d, e, f"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestStatusCommandErrors(t *testing.T) {
	dir := t.TempDir()
	// Nothing found by default: no $KUBECONFIG, no ~/.kube/config, not in
	// a cluster.
	t.Setenv("HOME", dir)
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	unreachable := filepath.Join(dir, "unreachable.kubeconfig")
	if err := os.WriteFile(unreachable, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cmdline string
		status        int
		want          []string // substrings of stderr
	}{
		{name: "an unknown output format", cmdline: "status -o yaml", status: 2, want: []string{`-o "yaml"`, "text or json"}},
		{name: "an unknown color mode", cmdline: "status --color sometimes", status: 2, want: []string{`--color "sometimes"`, "auto, always or never"}},
		{name: "a stray argument", cmdline: "status web", status: 2, want: []string{`unexpected argument "web"`}},
		{name: "an unknown flag", cmdline: "status --all-namespaces", status: 2, want: []string{"-all-namespaces", "--help"}},
		{name: "no kubeconfig anywhere", cmdline: "status", status: 1, want: []string{"no kubeconfig found", "--kubeconfig", "$KUBECONFIG"}},
		{name: "a kubeconfig file that does not exist", cmdline: "status --kubeconfig " + filepath.Join(dir, "nope"), status: 1,
			want: []string{"load kubeconfig", "nope"}},
		{name: "an API server that cannot be reached", cmdline: "status --kubeconfig " + unreachable, status: 1,
			want: []string{"cannot read bgplb's state from the API server at https://127.0.0.1:1", "list BGPNodeStatuses"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, status := run(t, tc.cmdline)
			if status != tc.status || stdout != "" {
				t.Errorf("status %d, stdout %q; want %d and nothing on stdout", status, stdout, tc.status)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestStatusHelp(t *testing.T) {
	stdout, stderr, status := run(t, "status --help")
	if status != 0 || stderr != "" {
		t.Fatalf("status %d, stderr %q", status, stderr)
	}
	for _, w := range []string{"Usage: bgplbctl status [flags]", "no ready endpoint", "held until TIME", "<pending>", "AllocationFailed",
		"drains on cordon", "-lb-class CLASS", "-o FORMAT", "-color WHEN",
		"-n NAMESPACE", "-kubeconfig FILE", "in-cluster"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("help lacks %q:\n%s", w, stdout)
		}
	}
	var out, errOut bytes.Buffer
	if RunAs("kubectl bgplb", []string{"status", "-h"}, &out, &errOut) != 0 || !strings.Contains(out.String(), "Usage: kubectl bgplb status") {
		t.Errorf("the kubectl plugin's help names it:\n%s%s", out.String(), errOut.String())
	}
	if _, _, status := run(t, "--help"); status != 0 {
		t.Errorf("top-level help failed")
	}
	if stdout, _, _ := run(t, "--help"); !strings.Contains(stdout, "status") {
		t.Errorf("the top level does not list status:\n%s", stdout)
	}
}

// A draining node says when its speaker withdraws the paths, from its
// BGPNodeStatus; a node that no longer drains says nothing of it.
func TestADrainingNodeSaysWhenItsPathsAreWithdrawn(t *testing.T) {
	until := metav1.NewTime(statusNow.Add(20 * time.Second))
	drained := speakerStatus("a", []v1alpha1.PeerSession{established("router-1")})
	drained.Status.Drain = &v1alpha1.NodeDrain{Reason: v1alpha1.DrainReasonAnnotation, Since: ago(10 * time.Second), Until: &until}
	undrained := speakerStatus("b", []v1alpha1.PeerSession{established("router-1")})
	undrained.Status.Drain = drained.Status.Drain
	r := buildReport(statusInputs{Now: statusNow,
		Nodes:        []corev1.Node{testNode("a", draining), testNode("b")},
		NodeStatuses: []v1alpha1.BGPNodeStatus{drained, undrained}})
	var b bytes.Buffer
	if err := writeStatusText(&b, r, false); err != nil {
		t.Fatal(err)
	}
	want := "a     1/1          draining (annotation bgplb.io/drain); paths withdrawn at 2026-11-24T07:00:20Z (in 20s)\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, b.String())
	}
	if strings.Count(b.String(), "paths withdrawn") != 1 {
		t.Errorf("want the withdrawal time for the draining node only:\n%s", b.String())
	}
}
