package speaker_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/director"
	"github.com/bgplb/bgplb/internal/k8s/speaker"
	"github.com/bgplb/bgplb/internal/testpoll"
)

// directorPool creates a pool with the director on and the given drain
// timeout. The pool goes when the test ends: any pool with the director
// on turns it on for every speaker, those of later tests too.
func directorPool(t *testing.T, name string, drainTimeout time.Duration) {
	t.Helper()
	pool := &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.IPPoolSpec{
		Addresses: []v1alpha1.AddressRange{"203.0.113.0/24"},
		Director:  &v1alpha1.PoolDirector{Enabled: true, DrainTimeout: &metav1.Duration{Duration: drainTimeout}}}}
	must(t, k8sClient.Create(context.Background(), pool))
	t.Cleanup(func() { _ = client.IgnoreNotFound(k8sClient.Delete(context.Background(), pool)) })
}

// withDatapath gives the speaker an opener that hands out dp and reports
// the tunnel address it was opened with.
func withDatapath(dp director.Datapath, opened chan<- netip.Addr) func(*speaker.Options) {
	return func(o *speaker.Options) {
		o.OpenDatapath = func(tunnel netip.Addr) (director.Datapath, error) {
			opened <- tunnel
			return dp, nil
		}
	}
}

// waitForPlan polls the fake datapath until check accepts the last plan.
func waitForPlan(t *testing.T, dp *director.Fake, what string, check func(director.ApplyRequest) bool) director.ApplyRequest {
	t.Helper()
	var req director.ApplyRequest
	testpoll.Until(t, 20*time.Second, what, func() (bool, string) {
		var ok bool
		req, ok = dp.Applied()
		return ok && check(req), fmt.Sprintf("%+v", req)
	})
	return req
}

// tableNodes returns the nodes of the table addr is forwarded by.
func tableNodes(req director.ApplyRequest, addr string) []string {
	key, ok := req.Plan.Addresses[netip.MustParseAddr(addr)]
	if !ok {
		return nil
	}
	return req.Plan.Tables[key].Nodes
}

// otherNodeStatus writes the status another node's speaker would write.
func otherNodeStatus(t *testing.T, name string, director *v1alpha1.NodeDirector, services ...v1alpha1.ServiceAnnouncement) {
	t.Helper()
	ctx := context.Background()
	var st v1alpha1.BGPNodeStatus
	if err := k8sClient.Get(ctx, client.ObjectKey{Name: name}, &st); err != nil {
		st = v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: name}}
		must(t, k8sClient.Create(ctx, &st))
	}
	st.Status.Director, st.Status.Services = director, services
	must(t, k8sClient.Status().Update(ctx, &st))
}

func directorCondition(st *v1alpha1.BGPNodeStatus) *metav1.Condition {
	return meta.FindStatusCondition(st.Status.Conditions, v1alpha1.ConditionDirectorReady)
}

func TestTheDirectorForwardsByEveryServingNodeAndShowsItIsReady(t *testing.T) {
	dp, opened := director.NewFake(), make(chan netip.Addr, 1)
	dp.SetFindings(director.Findings{Found: []string{"conntrack is active"}, Changed: []string{"created device bgplb-vx0"}})
	_, id, _ := worldWith(t, withDatapath(dp, opened), "router")
	directorPool(t, id+"-dir", time.Minute)
	announcedServiceOfPool(t, id, id+"-web", id+"-node", "203.0.113.50", id+"-dir")

	req := waitForPlan(t, dp, "the plan forwards the Service's address", func(r director.ApplyRequest) bool {
		return slices.Equal(tableNodes(r, "203.0.113.50"), []string{id + "-node"})
	})
	if req.Self != id+"-node" {
		t.Errorf("plan applied as %q, want the speaker's node", req.Self)
	}
	if got := <-opened; got != netip.MustParseAddr("198.18.0.10") {
		t.Errorf("datapath opened with tunnel address %s, want the node's IPv4 InternalIP", got)
	}
	waitForNodeStatus(t, id+"-node", "director ready, with what the datapath found and changed", func(st *v1alpha1.BGPNodeStatus) bool {
		c := directorCondition(st)
		return st.Status.Director != nil && st.Status.Director.Ready && st.Status.Director.TunnelAddress == "198.18.0.10" &&
			c != nil && c.Status == metav1.ConditionTrue && strings.Contains(c.Message, "found: conntrack is active; changed: created device bgplb-vx0")
	})

	// Another node serving the Service joins the table; once it drains,
	// it owns no bucket any more but stays in the table as a secondary.
	other := id + "-other"
	ready := &v1alpha1.NodeDirector{Ready: true, TunnelAddress: "198.18.0.11"}
	otherNodeStatus(t, other, ready, v1alpha1.ServiceAnnouncement{Name: "default/" + id + "-web", State: v1alpha1.AnnouncementAnnounced})
	req = waitForPlan(t, dp, "the other node joins the table", func(r director.ApplyRequest) bool {
		return slices.Equal(tableNodes(r, "203.0.113.50"), []string{id + "-node", other})
	})
	waitForNodeStatus(t, id+"-node", "the status shows the digest of the plan applied", func(st *v1alpha1.BGPNodeStatus) bool {
		return st.Status.Director != nil && st.Status.Director.PlanDigest == req.Plan.Digest()
	})
	if primaries := primariesOf(req, "203.0.113.50", other); primaries == 0 {
		t.Errorf("the serving other node is primary of no bucket")
	}
	if got := req.Plan.Tunnels[other]; got != netip.MustParseAddr("198.18.0.11") {
		t.Errorf("tunnel of the other node %s", got)
	}
	otherNodeStatus(t, other, ready, v1alpha1.ServiceAnnouncement{Name: "default/" + id + "-web", State: v1alpha1.AnnouncementFinishing})
	waitForPlan(t, dp, "the finishing node owns no bucket but stays in the table", func(r director.ApplyRequest) bool {
		return slices.Equal(tableNodes(r, "203.0.113.50"), []string{id + "-node", other}) && primariesOf(r, "203.0.113.50", other) == 0
	})

	// A node whose datapath is not ready owns nothing.
	otherNodeStatus(t, other, &v1alpha1.NodeDirector{Ready: false, TunnelAddress: "198.18.0.11"},
		v1alpha1.ServiceAnnouncement{Name: "default/" + id + "-web", State: v1alpha1.AnnouncementAnnounced})
	waitForPlan(t, dp, "the node that is not ready leaves the table", func(r director.ApplyRequest) bool {
		return slices.Equal(tableNodes(r, "203.0.113.50"), []string{id + "-node"})
	})
}

// primariesOf counts the buckets of addr's table whose primary is node.
func primariesOf(req director.ApplyRequest, addr, node string) int {
	table := req.Plan.Tables[req.Plan.Addresses[netip.MustParseAddr(addr)]]
	n := 0
	for b := range table.Buckets {
		if p, _ := table.Owner(b); p == node {
			n++
		}
	}
	return n
}

func TestANodeFinishesTheConnectionsOfAServiceItStopsAnnouncing(t *testing.T) {
	dp, opened := director.NewFake(), make(chan netip.Addr, 1)
	fake, id, _ := worldWith(t, withDatapath(dp, opened), "router")
	directorPool(t, id+"-dir", 3*time.Second)
	announcedServiceOfPool(t, id, id+"-web", id+"-node", "203.0.113.60", id+"-dir")
	waitForPrefixes(t, fake, id+"-router", "203.0.113.60/32")

	// The Service loses its endpoints: the node withdraws it but keeps
	// serving its connections, as a draining member of the table, until
	// the pool's drain timeout.
	must(t, k8sClient.Delete(context.Background(), &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: id + "-web"}}))
	waitForPrefixes(t, fake, id+"-router")
	waitForNodeStatus(t, id+"-node", "the Service is finishing", func(st *v1alpha1.BGPNodeStatus) bool {
		return slices.Contains(st.Status.Services, v1alpha1.ServiceAnnouncement{Name: "default/" + id + "-web", State: v1alpha1.AnnouncementFinishing})
	})
	req, _ := dp.Applied()
	if got := tableNodes(req, "203.0.113.60"); !slices.Equal(got, []string{id + "-node"}) || primariesOf(req, "203.0.113.60", id+"-node") != 0 {
		t.Errorf("while finishing, the table has nodes %v and the node owns %d buckets; want the node as a secondary only",
			got, primariesOf(req, "203.0.113.60", id+"-node"))
	}
	waitForNodeStatus(t, id+"-node", "the Service is gone once the drain timeout ends", func(st *v1alpha1.BGPNodeStatus) bool {
		return len(st.Status.Services) == 0
	})
	waitForPlan(t, dp, "the address leaves the plan", func(r director.ApplyRequest) bool {
		_, ok := r.Plan.Addresses[netip.MustParseAddr("203.0.113.60")]
		return !ok
	})
}

func TestWithoutADatapathTheNodeSaysWhyAndTurningTheDirectorOffClearsIt(t *testing.T) {
	_, id, _ := worldWith(t, func(*speaker.Options) {}, "router")
	directorPool(t, id+"-dir", time.Minute)
	announcedServiceOfPool(t, id, id+"-web", id+"-node", "203.0.113.70", id+"-dir")
	waitForNodeStatus(t, id+"-node", "director not ready, with the reason", func(st *v1alpha1.BGPNodeStatus) bool {
		c := directorCondition(st)
		return st.Status.Director != nil && !st.Status.Director.Ready && c != nil && c.Status == metav1.ConditionFalse &&
			c.Reason == v1alpha1.ReasonDatapathUnavailable && c.Message != ""
	})

	var pool v1alpha1.IPPool
	must(t, k8sClient.Get(context.Background(), client.ObjectKey{Name: id + "-dir"}, &pool))
	pool.Spec.Director.Enabled = false
	must(t, k8sClient.Update(context.Background(), &pool))
	waitForNodeStatus(t, id+"-node", "no director state once no pool asks for it", func(st *v1alpha1.BGPNodeStatus) bool {
		return st.Status.Director == nil && directorCondition(st) == nil
	})
}

func TestTurningTheDirectorOffClosesTheDatapath(t *testing.T) {
	dp, opened := director.NewFake(), make(chan netip.Addr, 1)
	_, id, _ := worldWith(t, withDatapath(dp, opened), "router")
	directorPool(t, id+"-dir", time.Minute)
	announcedServiceOfPool(t, id, id+"-web", id+"-node", "203.0.113.80", id+"-dir")
	waitForPlan(t, dp, "the plan forwards the Service's address", func(r director.ApplyRequest) bool {
		return len(tableNodes(r, "203.0.113.80")) == 1
	})
	must(t, k8sClient.Delete(context.Background(), &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: id + "-dir"}}))
	testpoll.Until(t, 20*time.Second, "the datapath is closed", func() (bool, string) {
		return dp.Closed(), "open"
	})
}

// fakeLiveness is a director.Liveness whose unreachable nodes the test
// sets.
type fakeLiveness struct {
	mu          sync.Mutex
	targets     map[string]netip.Addr
	unreachable map[string]bool
	changes     chan struct{}
}

func newFakeLiveness() *fakeLiveness {
	return &fakeLiveness{unreachable: map[string]bool{}, changes: make(chan struct{}, 1)}
}

func (f *fakeLiveness) SetTargets(targets map[string]netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.targets = targets
}

func (f *fakeLiveness) Unreachable() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	for name := range f.targets {
		if f.unreachable[name] {
			out[name] = true
		}
	}
	return out
}

func (f *fakeLiveness) Changes() <-chan struct{} { return f.changes }

func (f *fakeLiveness) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func (f *fakeLiveness) Err() error { return nil }

func (f *fakeLiveness) set(node string, unreachable bool) {
	f.mu.Lock()
	f.unreachable[node] = unreachable
	f.mu.Unlock()
	select {
	case f.changes <- struct{}{}:
	default:
	}
}

func (f *fakeLiveness) watched(node string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.targets[node]
	return ok
}

func TestANodeThatStopsAnsweringLeavesTheTablesUntilItAnswersAgain(t *testing.T) {
	dp, opened, live := director.NewFake(), make(chan netip.Addr, 1), newFakeLiveness()
	_, id, _ := worldWith(t, func(o *speaker.Options) {
		withDatapath(dp, opened)(o)
		o.Liveness = live
	}, "router")
	directorPool(t, id+"-dir", time.Minute)
	announcedServiceOfPool(t, id, id+"-web", id+"-node", "203.0.113.90", id+"-dir")
	other := id + "-other"
	otherNodeStatus(t, other, &v1alpha1.NodeDirector{Ready: true, TunnelAddress: "198.18.0.12"},
		v1alpha1.ServiceAnnouncement{Name: "default/" + id + "-web", State: v1alpha1.AnnouncementAnnounced})
	waitForPlan(t, dp, "the other node is in the table", func(r director.ApplyRequest) bool {
		return slices.Equal(tableNodes(r, "203.0.113.90"), []string{id + "-node", other})
	})
	if !live.watched(other) {
		t.Fatalf("the other node is not watched")
	}

	live.set(other, true)
	waitForPlan(t, dp, "the node that stopped answering leaves the table", func(r director.ApplyRequest) bool {
		return slices.Equal(tableNodes(r, "203.0.113.90"), []string{id + "-node"})
	})
	waitForNodeStatus(t, id+"-node", "the status names the node that does not answer", func(st *v1alpha1.BGPNodeStatus) bool {
		c := directorCondition(st)
		return c != nil && strings.Contains(c.Message, other)
	})
	live.set(other, false)
	waitForPlan(t, dp, "the node is back once it answers", func(r director.ApplyRequest) bool {
		return slices.Equal(tableNodes(r, "203.0.113.90"), []string{id + "-node", other})
	})
}

func TestTheDatapathsCountersAreMetrics(t *testing.T) {
	dp, opened := director.NewFake(), make(chan netip.Addr, 1)
	_, id, metrics := worldWith(t, withDatapath(dp, opened), "router")
	directorPool(t, id+"-dir", time.Minute)
	announcedServiceOfPool(t, id, id+"-web", id+"-node", "203.0.113.95", id+"-dir")
	<-opened
	dp.SetCounters(director.Counters{Forwarded: map[string]uint64{"node-b": 7}, SecondChances: map[string]uint64{"node-c": 3}, Local: 11, NoOwner: 2})
	for _, m := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"bgplb_director_forwarded_packets_total", map[string]string{"to_node": "node-b"}, 7},
		{"bgplb_director_second_chance_packets_total", map[string]string{"to_node": "node-c"}, 3},
		{"bgplb_director_local_packets_total", nil, 11},
		{"bgplb_director_no_owner_packets_total", nil, 2},
	} {
		if got := metricValue(t, metrics, m.name, m.labels); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
}
