package speaker_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
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
