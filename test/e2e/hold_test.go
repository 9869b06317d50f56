package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/testpoll"
	"github.com/bgplb/bgplb/test/lab"
)

// A node that gains its first local endpoint of a Service outside the
// advertisement's change window does not join the router's next hops, so
// no established connection is re-hashed; releasing the Service adds it.
// Without the hold the same event breaks a share of the connections.
func TestANodeJoiningOutsideTheChangeWindowIsHeldAndBreaksNothing(t *testing.T) {
	l := startLab(t, 3)
	ctx := context.Background()
	// A window half a day away: whenever the test runs, it is outside.
	opens := time.Now().UTC().Add(12 * time.Hour)
	window := v1alpha1.ChangeWindow{Start: opens.Format("15:04"), End: opens.Add(time.Hour).Format("15:04"), TimeZone: "UTC"}
	configure(t, l, v1alpha1.BGPAdvertisementSpec{AdditionHold: &v1alpha1.AdditionHold{Windows: []v1alpha1.ChangeWindow{window}}})
	svc := createService(t, l, "held", true)
	twoNodes := map[string][]lab.EndpointState{"node-0": {lab.Ready}, "node-1": {lab.Ready}}
	threeNodes := map[string][]lab.EndpointState{"node-0": {lab.Ready}, "node-1": {lab.Ready}, "node-2": {lab.Ready}}
	if err := l.SetEndpoints(ctx, svc, twoNodes); err != nil {
		t.Fatal(err)
	}
	addr := serviceAddrs(t, l, svc, 1)[0]
	// The first two next hops are never held: nobody announced the
	// Service before.
	waitForNextHops(t, l, addr, "node-0", "node-1")

	// Speakers learn who announces from each other's status objects, which
	// trail the announcements by up to a second; a join before then counts
	// as one of the first next hops.
	key := svc.Namespace + "/" + svc.Name
	waitForNodeState(t, l, "node-0", key, v1alpha1.AnnouncementAnnounced)
	waitForNodeState(t, l, "node-1", key, v1alpha1.AnnouncementAnnounced)

	d := startDisruption(t, l, addr, 1000)
	if err := l.SetEndpoints(ctx, svc, threeNodes); err != nil {
		t.Fatal(err)
	}
	held := waitForNodeState(t, l, "node-2", key, v1alpha1.AnnouncementHeld)
	if held.HeldUntil == nil || held.HeldUntil.UTC().Format("15:04") != window.Start {
		t.Errorf("node-2 holds the Service until %v, want the window's opening at %s", held.HeldUntil, window.Start)
	}
	keepTraffic(t, d, time.Second)
	hops, err := l.Router.KernelNextHops(hostPrefix(addr))
	if want := nodeAddrs(l, false, "node-0", "node-1"); err != nil || fmt.Sprint(hops) != fmt.Sprint(want) {
		t.Errorf("while node-2 is held the router's next hops are %v (%v), want %v", hops, err, want)
	}
	report := d.Stop()
	t.Logf("held addition:\n%s", report)
	if report.Broken() != 0 {
		t.Errorf("%d of %d connections broke while the addition was held", report.Broken(), report.Total.Conns)
	}

	// Releasing the Service adds node-2 at once.
	annotateService(t, l, svc, v1alpha1.AnnotationReleaseHeldAdditions, time.Now().UTC().Format(time.RFC3339))
	waitForNextHopsWithin(t, l, addr, 10*time.Second, "node-0", "node-1", "node-2")
	waitForNodeState(t, l, "node-2", key, v1alpha1.AnnouncementAnnounced)

	// Without the hold, the same event re-hashes established connections.
	var adv v1alpha1.BGPAdvertisement
	if err := l.Client.Get(ctx, client.ObjectKey{Name: "lab"}, &adv); err != nil {
		t.Fatal(err)
	}
	adv.Spec.AdditionHold = nil
	if err := l.Client.Update(ctx, &adv); err != nil {
		t.Fatal(err)
	}
	if err := l.SetEndpoints(ctx, svc, twoNodes); err != nil {
		t.Fatal(err)
	}
	waitForNextHops(t, l, addr, "node-0", "node-1")
	d = startDisruption(t, l, addr, 1000)
	if err := l.SetEndpoints(ctx, svc, threeNodes); err != nil {
		t.Fatal(err)
	}
	waitForNextHopsWithin(t, l, addr, 10*time.Second, "node-0", "node-1", "node-2")
	keepTraffic(t, d, time.Second)
	report = d.Stop()
	t.Logf("addition without a hold: %d of %d connections broke\n%s", report.Broken(), report.Total.Conns, report)
	if report.Broken() == 0 {
		t.Errorf("no connection broke when node-2 joined without a hold; the test cannot tell the hold's effect")
	}
}

// waitForNodeState polls a node's BGPNodeStatus until the Service shows
// the state, and returns the entry.
func waitForNodeState(t *testing.T, l *lab.Lab, node, service, state string) v1alpha1.ServiceAnnouncement {
	t.Helper()
	var found v1alpha1.ServiceAnnouncement
	testpoll.Until(t, 20*time.Second, fmt.Sprintf("%s shows %s as %s", node, service, state), func() (bool, string) {
		var st v1alpha1.BGPNodeStatus
		if err := l.Client.Get(context.Background(), client.ObjectKey{Name: node}, &st); err != nil {
			return false, err.Error()
		}
		for _, s := range st.Status.Services {
			if s.Name == service && s.State == state {
				found = s
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", st.Status.Services)
	})
	return found
}

func annotateService(t *testing.T, l *lab.Lab, svc *corev1.Service, key, value string) {
	t.Helper()
	var cur corev1.Service
	if err := l.Client.Get(context.Background(), client.ObjectKeyFromObject(svc), &cur); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(cur.DeepCopy())
	if cur.Annotations == nil {
		cur.Annotations = map[string]string{}
	}
	cur.Annotations[key] = value
	if err := l.Client.Patch(context.Background(), &cur, patch); err != nil {
		t.Fatal(err)
	}
}
