package speaker_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
	"github.com/bgplb/bgplb/internal/k8s/speaker"
	"github.com/bgplb/bgplb/internal/k8s/testenv"
	"github.com/bgplb/bgplb/internal/testpoll"
)

var (
	env       *testenv.Env
	k8sClient client.Client
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	var err error
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if scheme, err := kubeutil.Scheme(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else if k8sClient, err = client.New(env.Config, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop API server:", err)
	}
	os.Exit(code)
}

var testCount int

// world creates a node, a pool, peers and an advertisement with unique
// names, and starts a speaker for the node on a fake engine.
func world(t *testing.T, peers ...string) (*bgp.Fake, string) {
	t.Helper()
	fake, id, _ := worldWithMetrics(t, peers...)
	return fake, id
}

// worldWithMetrics is world that also returns the speaker's metrics.
func worldWithMetrics(t *testing.T, peers ...string) (*bgp.Fake, string, prometheus.Gatherer) {
	t.Helper()
	return worldWith(t, func(*speaker.Options) {}, peers...)
}

// worldWith is worldWithMetrics with the speaker's options changed by edit.
func worldWith(t *testing.T, edit func(*speaker.Options), peers ...string) (*bgp.Fake, string, prometheus.Gatherer) {
	t.Helper()
	ctx := context.Background()
	testCount++
	id := fmt.Sprintf("t%d", testCount)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: id + "-node"}}
	must(t, k8sClient.Create(ctx, node))
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.18.0.10"}, {Type: corev1.NodeInternalIP, Address: "2001:db8:1::10"}}
	must(t, k8sClient.Status().Update(ctx, node))
	for i, p := range peers {
		must(t, k8sClient.Create(ctx, &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: id + "-" + p}, Spec: v1alpha1.BGPPeerSpec{
			MyASN: 64512, PeerASN: 64500, PeerAddress: fmt.Sprintf("198.18.0.%d", i+1),
			NodeSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"kubernetes.io/hostname": node.Name}}}}}))
		// Speakers of earlier tests must not see these peers: they select
		// this test's node only, by a label set below.
	}
	node.Labels = map[string]string{"kubernetes.io/hostname": node.Name}
	must(t, k8sClient.Update(ctx, node))
	// Every test's Services carry its id, so a speaker announces only the
	// Services of its own test.
	must(t, k8sClient.Create(ctx, &v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: id}, Spec: v1alpha1.BGPAdvertisementSpec{
		NodeSelectors:    []metav1.LabelSelector{{MatchLabels: map[string]string{"kubernetes.io/hostname": node.Name}}},
		ServiceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"test": id}}}}}))

	fake, metrics, stop := startSpeakerWith(t, node.Name, edit)
	t.Cleanup(stop)
	return fake, id, metrics
}

// startSpeaker runs a speaker for node on a new fake engine until stop is
// called. Tests run many speakers in this process, so each has a metrics
// registry of its own, which it returns, and testenv.SeveralInProcess.
func startSpeaker(t *testing.T, node string) (fake *bgp.Fake, metrics prometheus.Gatherer, stop func()) {
	t.Helper()
	return startSpeakerWith(t, node, func(*speaker.Options) {})
}

// startSpeakerWith is startSpeaker with the options changed by edit.
func startSpeakerWith(t *testing.T, node string, edit func(*speaker.Options)) (fake *bgp.Fake, metrics prometheus.Gatherer, stop func()) {
	t.Helper()
	fake = bgp.NewFake()
	registry := prometheus.NewRegistry()
	opts := speaker.Options{
		NodeName: node, Namespace: "default", MetricsRegistry: registry, Controllers: testenv.SeveralInProcess(),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	edit(&opts)
	mgr, err := speaker.NewManager(env.Config, fake, opts)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = mgr.Start(ctx); close(done) }()
	return fake, registry, func() { cancel(); <-done }
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// announcedService creates a LoadBalancer Service with an address already
// in its status (no controller runs here) and a ready endpoint on node.
func announcedService(t *testing.T, id, name, node, addr string) {
	t.Helper()
	announcedServiceOfPool(t, id, name, node, addr, "lab")
}

// announcedServiceOfPool is announcedService with its address from pool.
func announcedServiceOfPool(t *testing.T, id, name, node, addr, pool string) {
	t.Helper()
	ctx := context.Background()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"test": id},
		Annotations: map[string]string{v1alpha1.AnnotationAssignedPool: pool}}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
	must(t, k8sClient.Create(ctx, svc))
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: addr}}
	must(t, k8sClient.Status().Update(ctx, svc))
	must(t, k8sClient.Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.1"}, NodeName: ptr.To(node), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}))
}

func prefixes(paths []bgp.Path) []string {
	var out []string
	for _, p := range paths {
		out = append(out, p.Prefix.String())
	}
	slices.Sort(out)
	return out
}

func waitForPrefixes(t *testing.T, fake *bgp.Fake, peer string, want ...string) {
	t.Helper()
	slices.Sort(want)
	testpoll.Until(t, 20*time.Second, fmt.Sprintf("peer %s announces %v", peer, want), func() (bool, string) {
		got := prefixes(fake.Paths(peer))
		return slices.Equal(got, want), fmt.Sprint(got)
	})
}

func TestAddingAServiceSendsOnlyItsUpdate(t *testing.T) {
	fake, id := world(t, "router")
	peer := id + "-router"
	announcedService(t, id, id+"-a", id+"-node", "203.0.113.10")
	waitForPrefixes(t, fake, peer, "203.0.113.10/32")
	before := fake.Updates()

	// A change that does not affect announcements makes the speaker
	// recompute, and send nothing ...
	calls := fake.PathCalls()
	var node corev1.Node
	must(t, k8sClient.Get(context.Background(), client.ObjectKey{Name: id + "-node"}, &node))
	node.Annotations = map[string]string{"unrelated": "yes"}
	must(t, k8sClient.Update(context.Background(), &node))
	waitForRecompute(t, fake, calls, "the node changed")
	if got := fake.Updates() - before; got != 0 {
		t.Errorf("%d updates sent for a change that affects no announcement", got)
	}
	// ... and a new Service sends exactly its own advertisement.
	announcedService(t, id, id+"-b", id+"-node", "203.0.113.11")
	waitForPrefixes(t, fake, peer, "203.0.113.10/32", "203.0.113.11/32")
	if got := fake.Updates() - before; got != 1 {
		t.Errorf("%d updates sent for one new Service, want 1", got)
	}
}

func TestABurstOfServicesIsAnnouncedOnceEach(t *testing.T) {
	fake, id := world(t, "router")
	peer := id + "-router"
	var want []string
	for i := range 40 {
		addr := netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)})
		announcedService(t, id, fmt.Sprintf("%s-svc-%d", id, i), id+"-node", addr.String())
		want = append(want, addr.String()+"/32")
	}
	waitForPrefixes(t, fake, peer, want...)
	if got := fake.Updates(); got != 40 {
		t.Errorf("%d updates for 40 Services, want 40 (no churn)", got)
	}
}

func TestChangingOnePeerResetsOnlyThatPeer(t *testing.T) {
	fake, id := world(t, "a", "b")
	announcedService(t, id, id+"-svc", id+"-node", "203.0.113.20")
	waitForPrefixes(t, fake, id+"-a", "203.0.113.20/32")
	waitForPrefixes(t, fake, id+"-b", "203.0.113.20/32")
	resets, updates := fake.PeerResets(), fake.Updates()

	var p v1alpha1.BGPPeer
	must(t, k8sClient.Get(context.Background(), client.ObjectKey{Name: id + "-a"}, &p))
	p.Spec.HoldTime = &metav1.Duration{Duration: 30 * time.Second}
	must(t, k8sClient.Update(context.Background(), &p))
	testpoll.Until(t, 20*time.Second, "the changed peer is reset", func() (bool, string) {
		return fake.PeerResets() != resets, fmt.Sprintf("%d resets", fake.PeerResets())
	})
	if got := fake.PeerResets() - resets; got != 1 {
		t.Errorf("%d peers reset, want 1", got)
	}
	for _, peer := range fake.Peers() {
		if peer.Name == id+"-a" && peer.HoldTime != 30*time.Second {
			t.Errorf("peer a has hold time %s", peer.HoldTime)
		}
	}
	waitForPrefixes(t, fake, id+"-b", "203.0.113.20/32")
	if got := fake.Updates() - updates; got != 0 {
		t.Errorf("%d path updates sent for a peer settings change, want 0 (the engine re-sends the reset peer's paths itself)", got)
	}
}

func TestDeletingAServiceWithdrawsItsPrefix(t *testing.T) {
	fake, id := world(t, "router")
	announcedService(t, id, id+"-gone", id+"-node", "203.0.113.30")
	waitForPrefixes(t, fake, id+"-router", "203.0.113.30/32")
	must(t, k8sClient.Delete(context.Background(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: id + "-gone"}}))
	waitForPrefixes(t, fake, id+"-router")
}

func TestABrokenPeerEditKeepsTheSessionAndOtherLoadBalancersAddressesAreNotAnnounced(t *testing.T) {
	fake, id := world(t, "router")
	peer := id + "-router"
	announcedService(t, id, id+"-a", id+"-node", "203.0.113.40")
	waitForPrefixes(t, fake, peer, "203.0.113.40/32")
	resets := fake.PeerResets()

	// The CRD schema cannot check selector operators; the speaker must
	// keep the last good version instead of dropping the session.
	var p v1alpha1.BGPPeer
	must(t, k8sClient.Get(context.Background(), client.ObjectKey{Name: peer}, &p))
	p.Spec.NodeSelectors = append(p.Spec.NodeSelectors, metav1.LabelSelector{
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "rack", Operator: "Sometimes"}}})
	must(t, k8sClient.Update(context.Background(), &p))

	// A Service whose address another load balancer wrote (no bgplb pool
	// annotation) is not announced.
	foreign := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: id + "-foreign", Labels: map[string]string{"test": id}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
	must(t, k8sClient.Create(context.Background(), foreign))
	foreign.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.41"}}
	must(t, k8sClient.Status().Update(context.Background(), foreign))

	// Both changes are seen once a later Service is announced.
	announcedService(t, id, id+"-b", id+"-node", "203.0.113.42")
	waitForPrefixes(t, fake, peer, "203.0.113.40/32", "203.0.113.42/32")
	if got := fake.PeerResets() - resets; got != 0 {
		t.Errorf("a broken peer edit reset %d sessions", got)
	}
}

// Cordoning drains only where an advertisement opts in: the path gets the
// graceful-shutdown community, is withdrawn after the peer's drain time,
// and comes back plain when the node is uncordoned.
func TestACordonedNodeDrainsWhereTheAdvertisementOptsIn(t *testing.T) {
	fake, id := world(t, "router")
	peer := id + "-router"
	ctx := context.Background()
	var p v1alpha1.BGPPeer
	must(t, k8sClient.Get(ctx, client.ObjectKey{Name: peer}, &p))
	p.Spec.DrainTime = &metav1.Duration{Duration: 2 * time.Second}
	must(t, k8sClient.Update(ctx, &p))
	announcedService(t, id, id+"-svc", id+"-node", "203.0.113.30")
	waitForPrefixes(t, fake, peer, "203.0.113.30/32")

	setCordon := func(on bool) {
		var node corev1.Node
		must(t, k8sClient.Get(ctx, client.ObjectKey{Name: id + "-node"}, &node))
		node.Spec.Unschedulable = on
		must(t, k8sClient.Update(ctx, &node))
	}
	const gracefulShutdown = 65535<<16 | 0
	hasGShut := func() bool {
		paths := fake.Paths(peer)
		return len(paths) == 1 && slices.Contains(paths[0].Communities, gracefulShutdown)
	}

	// Without the opt-in a cordon changes nothing, however long it lasts:
	// opting in later still gives the paths the whole drain time.
	updates, calls := fake.Updates(), fake.PathCalls()
	setCordon(true)
	waitForRecompute(t, fake, calls, "the node was cordoned")
	if fake.Updates() != updates || hasGShut() {
		t.Fatalf("a cordon without drainOnCordon changed the announcement: %+v", fake.Paths(peer))
	}
	// Longer than the drain time, which is what the test is about: a
	// drain counted from the cordon would end meanwhile and withdraw.
	testpoll.Throughout(t, 3*time.Second, "a cordon without drainOnCordon leaves the announcement alone", func() (bool, string) {
		return fake.Updates() == updates, fmt.Sprintf("%+v", fake.Paths(peer))
	})

	var adv v1alpha1.BGPAdvertisement
	must(t, k8sClient.Get(ctx, client.ObjectKey{Name: id}, &adv))
	adv.Spec.DrainOnCordon = true
	must(t, k8sClient.Update(ctx, &adv))
	testpoll.Until(t, 20*time.Second, "the graceful-shutdown community after opting in", func() (bool, string) {
		return hasGShut(), fmt.Sprintf("%+v", fake.Paths(peer))
	})
	drainSeen := time.Now()
	waitForPrefixes(t, fake, peer)
	if took := time.Since(drainSeen); took > 10*time.Second || took < time.Second {
		t.Errorf("withdrawn %v after the drain was seen; the drain time is 2s", took)
	}
	// The Node tells why it drained: the cordon, and which advertisement
	// drains on it. The cordon alone started nothing.
	waitForNodeEvent(t, id+"-node", "DrainFinished", "cordon", "BGPAdvertisement "+id)
	if got := nodeEvents(t, id+"-node", "DrainStarted"); len(got) != 1 || !strings.Contains(got[0], "drainOnCordon in BGPAdvertisement "+id) {
		t.Errorf("DrainStarted events %q, want one naming the advertisement", got)
	}

	setCordon(false)
	waitForPrefixes(t, fake, peer, "203.0.113.30/32")
	if hasGShut() {
		t.Errorf("the path kept the graceful-shutdown community after the cordon ended: %+v", fake.Paths(peer))
	}
}

// waitForRecompute waits until the speaker has recomputed since the fake
// counted calls path reconciliations, after what describes.
func waitForRecompute(t *testing.T, fake *bgp.Fake, calls int, what string) {
	t.Helper()
	testpoll.Until(t, 20*time.Second, "the speaker recomputes after "+what, func() (bool, string) {
		return fake.PathCalls() != calls, fmt.Sprintf("%d path calls", fake.PathCalls())
	})
}
