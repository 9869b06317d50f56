package speaker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/speaker"
	"github.com/bgplb/bgplb/internal/testpoll"
)

// claimAnnounced makes a status object for another node that says it
// announces the Service over an Established session, as that node's
// speaker would.
func claimAnnounced(t *testing.T, node, service string) {
	t.Helper()
	ctx := context.Background()
	st := &v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: node}}
	must(t, k8sClient.Create(ctx, st))
	st.Status.Services = []v1alpha1.ServiceAnnouncement{{Name: service, State: v1alpha1.AnnouncementAnnounced}}
	st.Status.AnnouncedServices = 1
	st.Status.Sessions = []v1alpha1.PeerSession{{Peer: "router", State: "Established"}}
	must(t, k8sClient.Status().Update(ctx, st))
}

// holdAdditions gives the test's advertisement an addition hold.
func holdAdditions(t *testing.T, id string, delay time.Duration) {
	t.Helper()
	ctx := context.Background()
	var adv v1alpha1.BGPAdvertisement
	must(t, k8sClient.Get(ctx, client.ObjectKey{Name: id}, &adv))
	adv.Spec.AdditionHold = &v1alpha1.AdditionHold{MinDelay: &metav1.Duration{Duration: delay}}
	must(t, k8sClient.Update(ctx, &adv))
}

// waitForState polls the node's status object until the Service shows the
// state, and returns its entry.
func waitForState(t *testing.T, node, service, state string) v1alpha1.ServiceAnnouncement {
	t.Helper()
	var entry v1alpha1.ServiceAnnouncement
	testpoll.Until(t, 20*time.Second, fmt.Sprintf("node %s shows %s as %s", node, service, state), func() (bool, string) {
		var st v1alpha1.BGPNodeStatus
		if err := k8sClient.Get(context.Background(), client.ObjectKey{Name: node}, &st); err != nil {
			return false, err.Error()
		}
		for _, s := range st.Status.Services {
			if s.Name == service && s.State == state {
				entry = s
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", st.Status)
	})
	return entry
}

func TestAnAdditionIsHeldWhileAnotherNodeAnnouncesAndReleasedByTheAnnotation(t *testing.T) {
	fake, id := world(t, "router")
	node, peer := id+"-node", id+"-router"
	holdAdditions(t, id, time.Hour)

	// The first Service nobody else announces goes out at once, hold or no
	// hold.
	announcedService(t, id, id+"-first", node, "203.0.113.20")
	waitForPrefixes(t, fake, peer, "203.0.113.20/32")
	waitForState(t, node, "default/"+id+"-first", v1alpha1.AnnouncementAnnounced)

	// A Service another node announces already is held back, in the
	// status with the time it ends.
	held := "default/" + id + "-joined"
	claimAnnounced(t, id+"-other", held)
	start := time.Now()
	announcedService(t, id, id+"-joined", node, "203.0.113.21")
	entry := waitForState(t, node, held, v1alpha1.AnnouncementHeld)
	if entry.HeldUntil == nil || entry.HeldUntil.Time.Before(start.Add(59*time.Minute)) || entry.HeldUntil.Time.After(time.Now().Add(time.Hour)) {
		t.Errorf("held until %v, want an hour after the Service appeared (%s)", entry.HeldUntil, start)
	}
	if got := prefixes(fake.Paths(peer)); len(got) != 1 {
		t.Fatalf("announces %v while the addition is held", got)
	}

	// Releasing it announces it at once.
	var svc corev1.Service
	must(t, k8sClient.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: id + "-joined"}, &svc))
	svc.Annotations[v1alpha1.AnnotationReleaseHeldAdditions] = time.Now().UTC().Format(time.RFC3339)
	must(t, k8sClient.Update(context.Background(), &svc))
	waitForPrefixes(t, fake, peer, "203.0.113.20/32", "203.0.113.21/32")
	waitForState(t, node, held, v1alpha1.AnnouncementAnnounced)

	// That release released something; a later one, with nothing held,
	// releases nothing and says so. Events go out in order, so by then a
	// warning about the first would show.
	later := release(t, id+"-joined", time.Now().Add(time.Hour))
	waitForEvent(t, id+"-joined", speaker.EventNothingReleased, later)
	if got := serviceEventNotes(t, id+"-joined", speaker.EventNothingReleased); len(got) != 1 {
		t.Errorf("NothingReleased events %q, want only the one about the second release", got)
	}
}

func TestARestartedSpeakerKeepsAnnouncingWhatItAnnouncedBefore(t *testing.T) {
	fake, id := world(t, "router")
	node, peer := id+"-node", id+"-router"
	holdAdditions(t, id, time.Hour)
	announcedService(t, id, id+"-web", node, "203.0.113.30")
	waitForPrefixes(t, fake, peer, "203.0.113.30/32")
	waitForState(t, node, "default/"+id+"-web", v1alpha1.AnnouncementAnnounced)

	// Another node starts announcing it too. For a speaker without memory
	// this node would now be the newcomer.
	claimAnnounced(t, id+"-other", "default/"+id+"-web")
	restarted, _, stop := startSpeaker(t, node)
	defer stop()
	waitForPrefixes(t, restarted, peer, "203.0.113.30/32")
}

func TestAHeldAdditionIsAnnouncedWhenItsDelayEnds(t *testing.T) {
	fake, id := world(t, "router")
	node, peer := id+"-node", id+"-router"
	const delay = 2 * time.Second
	holdAdditions(t, id, delay)
	key := "default/" + id + "-joined"
	claimAnnounced(t, id+"-other", key)
	announcedService(t, id, id+"-joined", node, "203.0.113.40")
	entry := waitForState(t, node, key, v1alpha1.AnnouncementHeld)
	if got := prefixes(fake.Paths(peer)); len(got) != 0 {
		t.Fatalf("announces %v while the addition is held", got)
	}
	// No event comes when the delay ends: the speaker must wake by itself.
	waitForPrefixes(t, fake, peer, "203.0.113.40/32")
	if early := entry.HeldSince.Add(delay - time.Second); time.Now().Before(early) {
		t.Errorf("announced at %s, before the delay from %s ended", time.Now(), entry.HeldSince)
	}
	waitForState(t, node, key, v1alpha1.AnnouncementAnnounced)
}

// An advertisement edit with a time zone nobody knows changes nothing:
// the speaker keeps the version it had, including its selectors.
func TestAnAdvertisementEditWithAnUnknownTimeZoneChangesNothing(t *testing.T) {
	fake, id := world(t, "router")
	node, peer := id+"-node", id+"-router"
	announcedService(t, id, id+"-web", node, "203.0.113.50")
	waitForPrefixes(t, fake, peer, "203.0.113.50/32")

	// Applied, this edit would withdraw the Service: no Service has the
	// label it now selects.
	var adv v1alpha1.BGPAdvertisement
	must(t, k8sClient.Get(context.Background(), client.ObjectKey{Name: id}, &adv))
	adv.Spec.ServiceSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"test": id + "-nobody"}}}
	adv.Spec.AdditionHold = &v1alpha1.AdditionHold{Windows: []v1alpha1.ChangeWindow{{Start: "02:00", End: "04:00", TimeZone: "Mars/Olympus_Mons"}}}
	calls := fake.PathCalls()
	must(t, k8sClient.Update(context.Background(), &adv))
	waitForRecompute(t, fake, calls, "the advertisement changed")
	if got := prefixes(fake.Paths(peer)); len(got) != 1 || got[0] != "203.0.113.50/32" {
		t.Errorf("after a broken advertisement edit the node announces %v, want what it announced before", got)
	}
}

// A node whose sessions are all down carries no traffic, so its claim to
// announce a Service holds back nobody.
func TestANodeWithoutAnEstablishedSessionDoesNotHoldOthersBack(t *testing.T) {
	fake, id := world(t, "router")
	node, peer := id+"-node", id+"-router"
	holdAdditions(t, id, time.Hour)
	key := "default/" + id + "-web"
	ctx := context.Background()
	st := &v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: id + "-other"}}
	must(t, k8sClient.Create(ctx, st))
	st.Status.Services = []v1alpha1.ServiceAnnouncement{{Name: key, State: v1alpha1.AnnouncementAnnounced}}
	st.Status.Sessions = []v1alpha1.PeerSession{{Peer: "router", State: "Active"}}
	must(t, k8sClient.Status().Update(ctx, st))
	announcedService(t, id, id+"-web", node, "203.0.113.70")
	waitForPrefixes(t, fake, peer, "203.0.113.70/32")
}

// serviceEventNotes returns the notes of the events on a Service with the
// reason.
func serviceEventNotes(t *testing.T, service, reason string) []string {
	t.Helper()
	var list eventsv1.EventList
	must(t, k8sClient.List(context.Background(), &list, client.InNamespace("default")))
	var notes []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "Service" && e.Regarding.Name == service && e.Reason == reason {
			notes = append(notes, e.Note)
		}
	}
	return notes
}

// release sets the Service's release annotation to at and returns the
// value.
func release(t *testing.T, name string, at time.Time) string {
	t.Helper()
	value := at.UTC().Format(time.RFC3339)
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var svc corev1.Service
		if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, &svc); err != nil {
			return err
		}
		svc.Annotations[v1alpha1.AnnotationReleaseHeldAdditions] = value
		return k8sClient.Update(context.Background(), &svc)
	}))
	return value
}

// A release annotation on a Service that no node holds back warns once
// per value, however often the speaker recomputes.
func TestAReleaseThatReleasesNothingWarnsOncePerValue(t *testing.T) {
	fake, id := world(t, "router")
	node, peer, name := id+"-node", id+"-router", id+"-web"
	announcedService(t, id, name, node, "203.0.113.90")
	waitForPrefixes(t, fake, peer, "203.0.113.90/32")

	first := release(t, name, time.Now())
	waitForEvent(t, name, speaker.EventNothingReleased, first)
	for round := range 2 {
		calls := fake.PathCalls()
		changeNode(t, node, func(n *corev1.Node) { n.Annotations = map[string]string{"round": fmt.Sprint(round)} })
		waitForRecompute(t, fake, calls, "the node changed")
	}
	second := release(t, name, time.Now().Add(time.Hour))
	waitForEvent(t, name, speaker.EventNothingReleased, second)
	// Events go out in order: the second value's warning being there
	// means every warning about the first is too.
	if got := serviceEventNotes(t, name, speaker.EventNothingReleased); len(got) != 2 {
		t.Errorf("NothingReleased events %q, want one per value", got)
	}
}
