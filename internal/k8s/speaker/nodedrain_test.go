package speaker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/testpoll"
)

// setDrainTime sets the drain time of a test's peer.
func setDrainTime(t *testing.T, peer string, d time.Duration) {
	t.Helper()
	var p v1alpha1.BGPPeer
	must(t, k8sClient.Get(context.Background(), client.ObjectKey{Name: peer}, &p))
	p.Spec.DrainTime = &metav1.Duration{Duration: d}
	must(t, k8sClient.Update(context.Background(), &p))
}

// changeNode applies change to the newest version of a Node.
func changeNode(t *testing.T, name string, change func(*corev1.Node)) {
	t.Helper()
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var n corev1.Node
		if err := k8sClient.Get(context.Background(), client.ObjectKey{Name: name}, &n); err != nil {
			return err
		}
		change(&n)
		return k8sClient.Update(context.Background(), &n)
	}))
}

func setDrainAnnotation(on bool) func(*corev1.Node) {
	return func(n *corev1.Node) {
		if !on {
			delete(n.Annotations, v1alpha1.AnnotationDrain)
			return
		}
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		n.Annotations[v1alpha1.AnnotationDrain] = "maintenance"
	}
}

// nodeEvents returns the notes of the events on a Node with the reason.
func nodeEvents(t *testing.T, node, reason string) []string {
	t.Helper()
	var list eventsv1.EventList
	must(t, k8sClient.List(context.Background(), &list, client.InNamespace("default")))
	var notes []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "Node" && e.Regarding.Name == node && e.Reason == reason {
			notes = append(notes, e.Note)
			if e.Series != nil {
				notes = append(notes, fmt.Sprintf("(%d more times)", e.Series.Count))
			}
		}
	}
	return notes
}

// waitForNodeEvent waits for an event on the Node with the reason and a
// note containing every fragment.
func waitForNodeEvent(t *testing.T, node, reason string, fragments ...string) {
	t.Helper()
	testpoll.Until(t, 20*time.Second, fmt.Sprintf("event %s on Node %s mentioning %q", reason, node, fragments), func() (bool, string) {
		notes := nodeEvents(t, node, reason)
		for _, n := range notes {
			all := true
			for _, f := range fragments {
				all = all && strings.Contains(n, f)
			}
			if all {
				return true, ""
			}
		}
		return false, strings.Join(notes, " | ")
	})
}

// While a node drains, its status says so, with why and until when, and
// counts the draining paths as announced: routers still have them.
func TestADrainingNodeShowsItsDrainAndCountsItsDrainingPathsAsAnnounced(t *testing.T) {
	fake, id := world(t, "router")
	node, peer := id+"-node", id+"-router"
	setDrainTime(t, peer, 3*time.Second)
	announcedService(t, id, id+"-web", node, "203.0.113.80")
	waitForPrefixes(t, fake, peer, "203.0.113.80/32")

	changeNode(t, node, setDrainAnnotation(true))
	st := waitForNodeStatus(t, node, "the Service draining", func(st *v1alpha1.BGPNodeStatus) bool {
		return len(st.Status.Services) == 1 && st.Status.Services[0].State == v1alpha1.AnnouncementDraining
	})
	if st.Status.AnnouncedServices != 1 {
		t.Errorf("announcedServices = %d while the node still announces its draining path, want 1", st.Status.AnnouncedServices)
	}
	d := st.Status.Drain
	if d == nil || d.Reason != v1alpha1.DrainReasonAnnotation || d.Since == nil || d.Until == nil {
		t.Fatalf("status.drain = %+v, want the annotation as reason, with start and end", d)
	}
	if got := d.Until.Sub(d.Since.Time); got != 3*time.Second {
		t.Errorf("status.drain runs from %s to %s, want the drain time of 3s", d.Since, d.Until)
	}

	waitForPrefixes(t, fake, peer)
	st = waitForNodeStatus(t, node, "the path withdrawn", func(st *v1alpha1.BGPNodeStatus) bool { return len(st.Status.Services) == 0 })
	if st.Status.AnnouncedServices != 0 || st.Status.Drain == nil || st.Status.Drain.Reason != v1alpha1.DrainReasonAnnotation {
		t.Errorf("a drained node shows announcedServices %d and drain %+v, want 0 and the annotation", st.Status.AnnouncedServices, st.Status.Drain)
	}

	changeNode(t, node, setDrainAnnotation(false))
	waitForNodeStatus(t, node, "the drain gone and the Service announced", func(st *v1alpha1.BGPNodeStatus) bool {
		return st.Status.Drain == nil && st.Status.AnnouncedServices == 1
	})
}

// A drain is reported on the Node when it starts and when its paths are
// withdrawn, once each however often the speaker recomputes meanwhile,
// and a drain called off early is reported as such.
func TestADrainIsReportedOnTheNodeOncePerChange(t *testing.T) {
	fake, id := world(t, "router")
	node, peer := id+"-node", id+"-router"
	setDrainTime(t, peer, 3*time.Second)
	announcedService(t, id, id+"-web", node, "203.0.113.81")
	waitForPrefixes(t, fake, peer, "203.0.113.81/32")

	changeNode(t, node, setDrainAnnotation(true))
	waitForNodeEvent(t, node, "DrainStarted", v1alpha1.AnnotationDrain, "3s", "graceful-shutdown")
	for round := range 2 {
		calls := fake.PathCalls()
		changeNode(t, node, func(n *corev1.Node) { n.Annotations["round"] = fmt.Sprint(round) })
		waitForRecompute(t, fake, calls, "the node changed")
	}
	waitForNodeEvent(t, node, "DrainFinished", v1alpha1.AnnotationDrain, "withdrawn")
	// Events go out in order, so the end being there means every start
	// is too.
	if got := nodeEvents(t, node, "DrainStarted"); len(got) != 1 {
		t.Errorf("DrainStarted events %q, want one", got)
	}

	changeNode(t, node, setDrainAnnotation(false))
	waitForPrefixes(t, fake, peer, "203.0.113.81/32")
	setDrainTime(t, peer, time.Hour)
	changeNode(t, node, setDrainAnnotation(true))
	waitForNodeEvent(t, node, "DrainStarted", "1h0m0s")
	changeNode(t, node, setDrainAnnotation(false))
	waitForNodeEvent(t, node, "DrainCancelled", v1alpha1.AnnotationDrain, "announced as usual")
	if got := nodeEvents(t, node, "DrainFinished"); len(got) != 1 {
		t.Errorf("DrainFinished events %q, want only the first drain's", got)
	}
}
