package speaker

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
)

func TestADrainStartsWhenFirstSeenExceptAtStartUp(t *testing.T) {
	now := time.Unix(1000, 0)
	var fresh drainTracker
	if got := fresh.observe(true, now); !got.Equal(drainedLongAgo) {
		t.Errorf("a node already draining at start-up: drain since %v, want long ago (the previous speaker drained it)", got)
	}

	var d drainTracker
	if got := d.observe(false, now); !got.IsZero() {
		t.Errorf("a node that does not drain: since %v, want zero", got)
	}
	if got := d.observe(true, now.Add(time.Second)); !got.Equal(now.Add(time.Second)) {
		t.Errorf("a drain seen after start-up starts when seen, got %v", got)
	}
	if got := d.observe(true, now.Add(5*time.Second)); !got.Equal(now.Add(time.Second)) {
		t.Errorf("a running drain keeps its start, got %v", got)
	}
	if got := d.observe(false, now.Add(6*time.Second)); !got.IsZero() {
		t.Errorf("an ended drain is forgotten, got %v", got)
	}
	if got := d.observe(true, now.Add(7*time.Second)); !got.Equal(now.Add(7 * time.Second)) {
		t.Errorf("a second drain starts afresh, got %v", got)
	}
}

func TestANodeGoingAwayIsToldApartFromARestart(t *testing.T) {
	scheme, err := kubeutil.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	node := func(name string, change func(*corev1.Node)) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		change(n)
		return n
	}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		node("staying", func(*corev1.Node) {}),
		node("cordoned", func(n *corev1.Node) { n.Spec.Unschedulable = true }),
		node("autoscaled", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: taintAutoscalerDelete, Effect: corev1.TaintEffectNoSchedule}}
		}),
		node("out-of-service", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: taintOutOfService, Effect: corev1.TaintEffectNoExecute}}
		}),
		node("drain-asked", func(n *corev1.Node) { n.Annotations = map[string]string{v1alpha1.AnnotationDrain: ""} }),
	).Build()
	tests := []struct {
		node string
		want string // a fragment of the reason; "" for a restart
	}{
		{"staying", ""},
		{"cordoned", ""}, // a speaker upgrade during maintenance is still a restart
		{"autoscaled", "autoscaler"},
		{"out-of-service", "out of service"},
		{"drain-asked", "drain"},
		{"deleted", "deleted"},
	}
	for _, tt := range tests {
		got := leaving(context.Background(), reader, tt.node)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("node %s: leaving = %q, want a reason containing %q", tt.node, got, tt.want)
		}
	}
}

// drainReasons returns the reasons of the events the fake recorder holds,
// in order.
func drainReasons(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, strings.Fields(e)[1])
		default:
			return out
		}
	}
}

func TestDrainEventsFollowTheDrainsChanges(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	start := time.Unix(1000, 0)
	annotated := func(since time.Time, drainTime time.Duration) nodeDrain {
		return nodeDrain{reason: v1alpha1.DrainReasonAnnotation, since: since, until: since.Add(drainTime)}
	}
	type step struct {
		drain nodeDrain
		at    time.Duration // after start
		want  []string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a drain found at start-up is over and reports nothing", []step{
			{annotated(drainedLongAgo, 30*time.Second), 0, nil},
			{annotated(drainedLongAgo, 30*time.Second), time.Minute, nil},
			{nodeDrain{}, 2 * time.Minute, nil},
		}},
		{"a drain starts once and finishes once", []step{
			{nodeDrain{}, 0, nil},
			{annotated(start.Add(time.Second), 30*time.Second), time.Second, []string{EventDrainStarted}},
			{annotated(start.Add(time.Second), 30*time.Second), 2 * time.Second, nil},
			{annotated(start.Add(time.Second), 30*time.Second), 31 * time.Second, []string{EventDrainFinished}},
			{annotated(start.Add(time.Second), 30*time.Second), 40 * time.Second, nil},
			// A peer with a longer drain time comes up: the drain is
			// still over.
			{annotated(start.Add(time.Second), time.Hour), 50 * time.Second, nil},
			{annotated(start.Add(time.Second), time.Hour), 2 * time.Hour, nil},
			{nodeDrain{}, 3 * time.Hour, nil},
		}},
		{"a drain undone early is cancelled", []step{
			{nodeDrain{}, 0, nil},
			{annotated(start.Add(time.Second), 30*time.Second), time.Second, []string{EventDrainStarted}},
			{nodeDrain{}, 10 * time.Second, []string{EventDrainCancelled}},
			{nodeDrain{}, 11 * time.Second, nil},
		}},
		{"a drain without drain time starts and finishes at once", []step{
			{nodeDrain{}, 0, nil},
			{annotated(start.Add(time.Second), 0), time.Second, []string{EventDrainStarted, EventDrainFinished}},
			{nodeDrain{}, 2 * time.Second, nil},
		}},
	}
	for _, tt := range tests {
		rec := events.NewFakeRecorder(10)
		e := drainEvents{recorder: rec}
		for i, s := range tt.steps {
			e.report(node, s.drain, start.Add(s.at))
			if got := drainReasons(rec); !slices.Equal(got, s.want) {
				t.Errorf("%s: step %d: events %v, want %v", tt.name, i, got, s.want)
			}
		}
	}
}

// rackMatcher matches nodes with the label rack=value.
type rackMatcher string

func (m rackMatcher) Matches(labels map[string]string) bool { return labels["rack"] == string(m) }

func TestACordonDrainsOnlyThroughAdvertisementsThatApplyToTheNode(t *testing.T) {
	node := announce.Node{Name: "n", Labels: map[string]string{"rack": "a"}, Cordoned: true}
	otherRack := announce.Advertisement{Name: "rack-b", DrainOnCordon: true, NodeSelectors: []announce.LabelMatcher{rackMatcher("b")}}
	thisRack := announce.Advertisement{Name: "rack-a", DrainOnCordon: true, NodeSelectors: []announce.LabelMatcher{rackMatcher("a")}}
	everywhere := announce.Advertisement{Name: "plain"}

	in := announce.Input{Node: node, Advertisements: []announce.Advertisement{otherRack, everywhere}}
	if d := drainOf(&in, ""); d.reason != "" || len(d.cordonAdverts) != 0 {
		t.Errorf("only another rack's advertisement drains on cordon: drain %+v, want none", d)
	}
	in.Advertisements = append(in.Advertisements, thisRack)
	if d := drainOf(&in, ""); d.reason != v1alpha1.DrainReasonCordon || !slices.Equal(d.cordonAdverts, []string{"rack-a"}) {
		t.Errorf("this rack's advertisement drains on cordon: drain %+v, want a cordon drain through rack-a only", d)
	}
	if d := drainOf(&in, v1alpha1.DrainReasonAnnotation); d.reason != v1alpha1.DrainReasonAnnotation {
		t.Errorf("a node drained by its annotation: drain %+v, want the annotation as reason", d)
	}
}

// A cordon drains only the paths of the advertisements that drain on
// cordon, and its events say so rather than speak of all the node's paths.
func TestCordonDrainEventsNameThePathsTheyTakeOut(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	start := time.Unix(1000, 0)
	cordon := nodeDrain{reason: v1alpha1.DrainReasonCordon, cordonAdverts: []string{"public"}, since: start.Add(time.Second), until: start.Add(31 * time.Second)}
	rec := events.NewFakeRecorder(10)
	e := drainEvents{recorder: rec}
	e.report(node, nodeDrain{}, start)
	e.report(node, cordon, start.Add(time.Second))
	e.report(node, cordon, start.Add(time.Minute))
	var got []string
	for range 2 {
		got = append(got, <-rec.Events)
	}
	for i, want := range []string{
		"node n drains, asked by the cordon (drainOnCordon in BGPAdvertisement public): the paths of those advertisements carry the graceful-shutdown community",
		"node n has drained, asked by the cordon (drainOnCordon in BGPAdvertisement public): the paths of those advertisements are withdrawn",
	} {
		if !strings.Contains(got[i], want) {
			t.Errorf("event %d = %q, want it to say %q", i, got[i], want)
		}
	}
}
