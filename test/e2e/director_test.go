package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/k8s/translate"
	"github.com/bgplb/bgplb/internal/testpoll"
	"github.com/bgplb/bgplb/test/lab"
)

// directorConns is how many busy connections each director test keeps.
const directorConns = 300

// directedLab starts a lab whose pool has the director on, with BFD
// between the router and the nodes if asked, and waits until every node's
// datapath is ready.
func directedLab(t *testing.T, bfd bool) *lab.Lab {
	t.Helper()
	l := startLabWith(t, lab.Config{Nodes: 3, Director: true, BFD: bfd})
	if bfd {
		createFastBFDProfile(t, l)
		peer := routerPeer(l)
		peer.Spec.BFDProfile = "fast"
		configurePeer(t, l, v1alpha1.BGPAdvertisementSpec{}, peer)
		waitForBFDUp(t, l, len(l.Nodes))
	} else {
		configure(t, l, v1alpha1.BGPAdvertisementSpec{})
	}
	setPool(t, l, func(p *v1alpha1.IPPool) {
		p.Spec.Director = &v1alpha1.PoolDirector{Enabled: true, DrainTimeout: &metav1.Duration{Duration: 10 * time.Minute}}
	})
	for _, n := range l.Nodes {
		waitForDirectorReady(t, l, n.Name)
	}
	return l
}

// directedService creates a Service served by a pod on every node, and
// waits until the router has the nodes as next hops.
func directedService(t *testing.T, l *lab.Lab, local bool, nextHops ...string) (*corev1.Service, netip.Addr) {
	t.Helper()
	svc, addrs := directedServiceOf(t, l, local, []corev1.IPFamily{corev1.IPv4Protocol}, nextHops...)
	return svc, addrs[0]
}

// directedServiceOf is directedService for a Service of the given
// families; it returns one address per family.
func directedServiceOf(t *testing.T, l *lab.Lab, local bool, families []corev1.IPFamily, nextHops ...string) (*corev1.Service, []netip.Addr) {
	t.Helper()
	svc := createService(t, l, "directed", local, families...)
	if err := l.SetEndpoints(context.Background(), svc, map[string][]lab.EndpointState{
		"node-0": {lab.Ready}, "node-1": {lab.Ready}, "node-2": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addrs := serviceAddrs(t, l, svc, len(families))
	for _, addr := range addrs {
		waitForNextHops(t, l, addr, nextHops...)
	}
	waitForPlansToAgree(t, l, translate.ServiceKey(svc), nextHops...)
	return svc, addrs
}

// waitForPlansToAgree waits until the nodes serving the Service show it
// announced, and every node forwards by the same plan. Before that, a new
// connection can be kept by a node whose tables do not yet name the
// others, and break when they do.
func waitForPlansToAgree(t *testing.T, l *lab.Lab, key string, serving ...string) {
	t.Helper()
	testpoll.Until(t, 30*time.Second, "every node forwards by the same plan", func() (bool, string) {
		digests := map[string]string{}
		for _, n := range l.Nodes {
			var st v1alpha1.BGPNodeStatus
			if err := l.Client.Get(context.Background(), client.ObjectKey{Name: n.Name}, &st); err != nil || st.Status.Director == nil {
				return false, fmt.Sprint(n.Name, " has no director state ", err)
			}
			announced := slices.Contains(st.Status.Services, v1alpha1.ServiceAnnouncement{Name: key, State: v1alpha1.AnnouncementAnnounced})
			if announced != slices.Contains(serving, n.Name) {
				return false, fmt.Sprintf("%s announces %s: %v", n.Name, key, announced)
			}
			digests[n.Name] = st.Status.Director.PlanDigest
		}
		first := digests[l.Nodes[0].Name]
		for _, d := range digests {
			if d == "" || d != first {
				return false, fmt.Sprint(digests)
			}
		}
		return true, ""
	})
}

func setPool(t *testing.T, l *lab.Lab, edit func(*v1alpha1.IPPool)) {
	t.Helper()
	var p v1alpha1.IPPool
	if err := l.Client.Get(context.Background(), client.ObjectKey{Name: "lab"}, &p); err != nil {
		t.Fatal(err)
	}
	edit(&p)
	if err := l.Client.Update(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
}

// waitForDirectorReady waits until the node's status says its datapath
// forwards.
func waitForDirectorReady(t *testing.T, l *lab.Lab, node string) {
	t.Helper()
	waitForCondition(t, l, node, node+"'s director datapath is ready", func(c *metav1.Condition) bool {
		return c.Status == metav1.ConditionTrue
	})
}

// waitForCondition waits until the node's DirectorReady condition passes
// check.
func waitForCondition(t *testing.T, l *lab.Lab, node, what string, check func(*metav1.Condition) bool) {
	t.Helper()
	testpoll.Until(t, 30*time.Second, what, func() (bool, string) {
		var st v1alpha1.BGPNodeStatus
		if err := l.Client.Get(context.Background(), client.ObjectKey{Name: node}, &st); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(st.Status.Conditions, v1alpha1.ConditionDirectorReady)
		return c != nil && check(c), fmt.Sprintf("%+v", c)
	})
}

// requireNoneBroken stops the harness and fails the test for every
// connection that broke, showing then what each node's director counted.
func requireNoneBroken(t *testing.T, l *lab.Lab, d *lab.Disruption, event string) {
	t.Helper()
	report := d.Stop()
	t.Logf("%s:\n%s", event, report)
	if report.Broken() != 0 || report.Total.Intact != directorConns {
		t.Errorf("%s broke %d of %d connections (%d intact), want none", event, report.Broken(), directorConns, report.Total.Intact)
		logDirectorCounters(t, l)
	}
}

// logDirectorCounters logs the director metrics of every node.
func logDirectorCounters(t *testing.T, l *lab.Lab) {
	t.Helper()
	for _, n := range l.Nodes {
		text, err := l.SpeakerMetrics(n)
		if err != nil {
			t.Logf("%s: %v", n.Name, err)
			continue
		}
		var lines []string
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "bgplb_director_") {
				lines = append(lines, line)
			}
		}
		t.Logf("%s:\n%s", n.Name, strings.Join(lines, "\n"))
	}
}

// Both families at once: IPv4 and IPv6 Service addresses, forwarded over
// the nodes' IPv4 tunnel.
func TestTheDirectorKeepsEveryConnectionThroughADrain(t *testing.T) {
	l := directedLab(t, false)
	_, addrs := directedServiceOf(t, l, false, []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}, allNodes(l)...)
	var harnesses []*lab.Disruption
	for _, addr := range addrs {
		harnesses = append(harnesses, startDisruption(t, l, addr, directorConns))
	}
	setNodeAnnotation(t, l, "node-1", v1alpha1.AnnotationDrain, "true")
	for _, addr := range addrs {
		waitForNextHopsWithin(t, l, addr, 30*time.Second, "node-0", "node-2")
	}
	for i, d := range harnesses {
		keepTraffic(t, d, 2*time.Second)
		requireNoneBroken(t, l, d, fmt.Sprintf("draining node-1, connections to %s", addrs[i]))
	}
}

func TestTheDirectorKeepsEveryConnectionThroughAJoin(t *testing.T) {
	l := directedLab(t, false)
	// node-1 is out of load balancing from the start, so that taking the
	// label away is a join of a node that serves nothing yet.
	setNodeLabel(t, l, "node-1", announce.ExcludeLabel, "true")
	_, addr := directedService(t, l, false, "node-0", "node-2")
	d := startDisruption(t, l, addr, directorConns)
	setNodeLabel(t, l, "node-1", announce.ExcludeLabel, "")
	waitForNextHopsWithin(t, l, addr, 30*time.Second, allNodes(l)...)
	keepTraffic(t, d, 2*time.Second)
	requireNoneBroken(t, l, d, "node-1 joining")
}

func TestTheDirectorKeepsEveryConnectionThroughAnEndpointMove(t *testing.T) {
	l := directedLab(t, false)
	svc, addr := directedService(t, l, true, allNodes(l)...)
	d := startDisruption(t, l, addr, directorConns)
	// node-1's pod stops being ready but keeps serving, as a terminating
	// pod does; node-1 withdraws the Local Service and finishes its
	// connections.
	if err := l.SetEndpoints(context.Background(), svc, map[string][]lab.EndpointState{
		"node-0": {lab.Ready}, "node-1": {lab.NotReady}, "node-2": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	waitForNextHopsWithin(t, l, addr, 30*time.Second, "node-0", "node-2")
	keepTraffic(t, d, 2*time.Second)
	requireNoneBroken(t, l, d, "node-1's endpoint leaving")
}

// A node that crashes takes only the connections it owned: the router
// moves the others' packets to the nodes left, which forward them to their
// owners as before; and once the other nodes see it answer no more, new
// connections open on them only. The Service is Local, so that no
// connection of another node goes on to a pod on the crashed one, which
// would break with its pod whatever the director does.
func TestWithTheDirectorACrashBreaksOnlyTheCrashedNodesConnections(t *testing.T) {
	l := directedLab(t, true)
	_, addr := directedService(t, l, true, allNodes(l)...)
	d := startDisruption(t, l, addr, directorConns)
	if _, err := l.CutLink(labNode(t, l, "node-1")); err != nil {
		t.Fatal(err)
	}
	waitForNextHopsWithin(t, l, addr, 30*time.Second, "node-0", "node-2")
	keepTraffic(t, d, 2*time.Second)
	report := d.Stop()
	t.Logf("node-1 crashing:\n%s", report)
	for _, node := range []string{"node-0", "node-2"} {
		if got := report.PerNode[node]; got.Broken() != 0 {
			t.Errorf("%s owned %d connections and %d broke; a crash of node-1 must break only node-1's", node, got.Conns, got.Broken())
		}
	}
	if got := report.PerNode["node-1"]; got.Conns == 0 || got.Intact != 0 {
		t.Errorf("node-1 owned %d connections, %d intact after it crashed; want some, all broken", got.Conns, got.Intact)
	}
	for _, node := range []string{"node-0", "node-2"} {
		waitForCondition(t, l, node, node+" leaves node-1 out of its tables", func(c *metav1.Condition) bool {
			return strings.Contains(c.Message, "do not answer own nothing: node-1")
		})
	}
	// Every new connection opens: none is forwarded to the dead node.
	after := startDisruption(t, l, addr, directorConns)
	keepTraffic(t, after, time.Second)
	requireNoneBroken(t, l, after, "new connections after node-1 crashed")
}
