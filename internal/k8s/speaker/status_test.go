package speaker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/k8s/speaker"
	"github.com/bgplb/bgplb/internal/k8s/testenv"
	"github.com/bgplb/bgplb/internal/testpoll"
)

// waitForNodeStatus polls the node's status object until check accepts it.
func waitForNodeStatus(t *testing.T, node, what string, check func(st *v1alpha1.BGPNodeStatus) bool) *v1alpha1.BGPNodeStatus {
	t.Helper()
	var st v1alpha1.BGPNodeStatus
	testpoll.Until(t, 20*time.Second, fmt.Sprintf("node %s: %s", node, what), func() (bool, string) {
		err := k8sClient.Get(context.Background(), client.ObjectKey{Name: node}, &st)
		return err == nil && check(&st), fmt.Sprintf("%+v %v", st.Status, err)
	})
	return &st
}

func session(st *v1alpha1.BGPNodeStatus, peer string) *v1alpha1.PeerSession {
	for i := range st.Status.Sessions {
		if st.Status.Sessions[i].Peer == peer {
			return &st.Status.Sessions[i]
		}
	}
	return nil
}

// metricValue reads one series of a speaker's metrics, or -1 if absent.
func metricValue(t *testing.T, metrics prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue series
				}
			}
			switch {
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func TestTheNodeStatusAndMetricsFollowTheSession(t *testing.T) {
	fake, id, metrics := worldWithMetrics(t, "router")
	node, peer := id+"-node", id+"-router"
	announcedService(t, id, id+"-web", node, "203.0.113.60")
	waitForPrefixes(t, fake, peer, "203.0.113.60/32")

	st := waitForNodeStatus(t, node, "the session with one prefix", func(st *v1alpha1.BGPNodeStatus) bool {
		s := session(st, peer)
		return s != nil && s.PrefixesSent == 1 && s.PeerAddress == "198.18.0.1" && s.State != string(bgp.StateEstablished)
	})
	if st.Status.SessionsEstablished != "0/1" {
		t.Errorf("sessionsEstablished = %q, want 0/1", st.Status.SessionsEstablished)
	}
	if got := metricValue(t, metrics, "bgplb_speaker_session_up", map[string]string{"peer": peer}); got != 0 {
		t.Errorf("session_up = %v before the session is up, want 0", got)
	}

	must(t, fake.SetSessionState(peer, bgp.StateEstablished, ""))
	waitForNodeStatus(t, node, "the session Established", func(st *v1alpha1.BGPNodeStatus) bool {
		s := session(st, peer)
		return s != nil && s.State == string(bgp.StateEstablished) && s.Since != nil && st.Status.SessionsEstablished == "1/1"
	})
	if got := metricValue(t, metrics, "bgplb_speaker_session_up", map[string]string{"peer": peer}); got != 1 {
		t.Errorf("session_up = %v once Established, want 1", got)
	}
	if got := metricValue(t, metrics, "bgplb_speaker_session_state_changes_total", map[string]string{"peer": peer, "state": "Established"}); got < 1 {
		t.Errorf("state changes into Established = %v, want at least 1", got)
	}
	if got := metricValue(t, metrics, "bgplb_speaker_prefixes_announced", map[string]string{"peer": peer}); got != 1 {
		t.Errorf("prefixes_announced = %v, want 1", got)
	}
	if got := metricValue(t, metrics, "bgplb_speaker_updates_sent_total", map[string]string{"peer": peer}); got < 1 {
		t.Errorf("updates_sent_total = %v, want at least 1", got)
	}
	if n := metricValue(t, metrics, "bgplb_speaker_reconcile_duration_seconds", nil); n < 1 {
		t.Errorf("reconcile duration histogram has %v observations, want some", n)
	}

	// The router closes the session: the status says so, with the reason.
	must(t, fake.SetSessionState(peer, bgp.StateActive, "peer sent a NOTIFICATION: Cease"))
	waitForNodeStatus(t, node, "the session down with its reason", func(st *v1alpha1.BGPNodeStatus) bool {
		s := session(st, peer)
		return s != nil && s.State == string(bgp.StateActive) && strings.Contains(s.LastError, "Cease") && st.Status.SessionsEstablished == "0/1"
	})
	if got := metricValue(t, metrics, "bgplb_speaker_session_up", map[string]string{"peer": peer}); got != 0 {
		t.Errorf("session_up = %v after the session went down, want 0", got)
	}
}

func TestABrokenConfigurationShowsInTheNodeStatus(t *testing.T) {
	_, id := world(t, "router")
	node, peer := id+"-node", id+"-router"
	// Objects of other tests in this API server may be broken too; only
	// this test's peer counts.
	mentionsPeer := func(st *v1alpha1.BGPNodeStatus) bool {
		c := meta.FindStatusCondition(st.Status.Conditions, v1alpha1.ConditionConfigurationValid)
		return c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "BGPPeer/"+peer+":")
	}
	waitForNodeStatus(t, node, "a ConfigurationValid condition that does not blame the peer", func(st *v1alpha1.BGPNodeStatus) bool {
		return meta.FindStatusCondition(st.Status.Conditions, v1alpha1.ConditionConfigurationValid) != nil && !mentionsPeer(st)
	})
	var p v1alpha1.BGPPeer
	must(t, k8sClient.Get(context.Background(), client.ObjectKey{Name: peer}, &p))
	p.Spec.NodeSelectors = append(p.Spec.NodeSelectors, metav1.LabelSelector{
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "rack", Operator: "Sometimes"}}})
	must(t, k8sClient.Update(context.Background(), &p))
	st := waitForNodeStatus(t, node, "ConfigurationValid=False naming the peer", mentionsPeer)
	c := meta.FindStatusCondition(st.Status.Conditions, v1alpha1.ConditionConfigurationValid)
	for _, want := range []string{"BGPPeer/" + peer, "Sometimes", "keeping the previous version"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("condition message %q does not mention %q", c.Message, want)
		}
	}
}

func TestServicesGetEventsWhenANodeStartsAndStopsAnnouncing(t *testing.T) {
	fake, id := world(t, "router")
	node, peer := id+"-node", id+"-router"
	name := id + "-web"
	announcedService(t, id, name, node, "203.0.113.61")
	waitForPrefixes(t, fake, peer, "203.0.113.61/32")
	waitForEvent(t, name, "Announced", node)

	// The only endpoint stops being ready.
	var es discoveryv1.EndpointSlice
	must(t, k8sClient.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, &es))
	es.Endpoints[0].Conditions.Ready = new(false)
	must(t, k8sClient.Update(context.Background(), &es))
	waitForPrefixes(t, fake, peer)
	waitForEvent(t, name, "Withdrawn", "no ready endpoint")
}

func waitForEvent(t *testing.T, service, reason, text string) {
	t.Helper()
	testpoll.Until(t, 20*time.Second, fmt.Sprintf("a %s event mentioning %q on Service %s", reason, text, service), func() (bool, string) {
		var list eventsv1.EventList
		must(t, k8sClient.List(context.Background(), &list, client.InNamespace("default")))
		var seen []string
		for _, e := range list.Items {
			if e.Regarding.Kind == "Service" && e.Regarding.Name == service {
				seen = append(seen, e.Reason+": "+e.Note)
				if e.Reason == reason && strings.Contains(e.Note, text) {
					return true, ""
				}
			}
		}
		return false, fmt.Sprint(seen)
	})
}

// In steady state the speakers write nothing: the status object keeps its
// resource version while the speaker recomputes and refreshes its session
// view.
func TestASteadyNodeWritesNothing(t *testing.T) {
	fake, id := world(t, "router")
	node, peer := id+"-node", id+"-router"
	var want []string
	for i := range 20 {
		addr := fmt.Sprintf("203.0.113.%d", 100+i)
		announcedService(t, id, fmt.Sprintf("%s-svc-%d", id, i), node, addr)
		want = append(want, addr+"/32")
	}
	waitForPrefixes(t, fake, peer, want...)
	must(t, fake.SetSessionState(peer, bgp.StateEstablished, ""))
	settled := waitForNodeStatus(t, node, "every Service announced on an Established session", func(st *v1alpha1.BGPNodeStatus) bool {
		s := session(st, peer)
		return st.Status.AnnouncedServices == 20 && s != nil && s.State == string(bgp.StateEstablished) && s.PrefixesSent == 20
	})
	// Recomputes that change nothing, with session refreshes in between.
	for round := range 3 {
		calls := fake.PathCalls()
		var n corev1.Node
		must(t, k8sClient.Get(context.Background(), client.ObjectKey{Name: node}, &n))
		n.Annotations = map[string]string{"round": fmt.Sprint(round)}
		must(t, k8sClient.Update(context.Background(), &n))
		waitForRecompute(t, fake, calls, "the node changed")
	}
	// The writer looks at its sessions on a timer, every second: the
	// watch gives it two looks.
	testpoll.Throughout(t, 2500*time.Millisecond, "the status object is not written in steady state", func() (bool, string) {
		var st v1alpha1.BGPNodeStatus
		must(t, k8sClient.Get(context.Background(), client.ObjectKey{Name: node}, &st))
		return st.ResourceVersion == settled.ResourceVersion, fmt.Sprintf("%+v", st.Status)
	})
}

// Production passes no registry: the metrics then go to
// controller-runtime's, the one the manager's metrics server serves, and
// a second speaker there is refused instead of sharing the first one's
// series.
func TestWithoutARegistryTheMetricsGoWhereTheManagerServesThem(t *testing.T) {
	opts := speaker.Options{NodeName: "default-registry-node", Controllers: testenv.SeveralInProcess()}
	if _, err := speaker.NewManager(env.Config, bgp.NewFake(), opts); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(ctrlmetrics.Registry, "bgplb_speaker_held_services", "bgplb_speaker_reconcile_duration_seconds", "bgplb_build_info")
	if err != nil || n != 3 {
		t.Errorf("controller-runtime's registry holds %d of the speaker's 3 unlabelled series (%v)", n, err)
	}
	if _, err := speaker.NewManager(env.Config, bgp.NewFake(), opts); err == nil || !strings.Contains(err.Error(), "register the speaker's metrics") {
		t.Errorf("a second speaker in the same registry: error = %v, want a refused registration", err)
	}
}
