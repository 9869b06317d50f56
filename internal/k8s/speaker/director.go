package speaker

// The speaker's part in forwarding to flow owners (docs/director.md).

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/director"
	"github.com/bgplb/bgplb/internal/k8s/translate"
	"github.com/bgplb/bgplb/internal/owner"
)

// directorRunner opens the node's datapath when the first pool turns the
// director on and closes it when the last one turns it off; it keeps the
// node serving the connections of a Service it stops announcing until
// they end or the pool's drain timeout does (the Service is Finishing);
// and it loads the Plan of every recompute. Only the reconciler calls
// it, one recompute at a time.
type directorRunner struct {
	open     director.Opener
	liveness director.Liveness
	logger   *slog.Logger
	self     string

	// mu guards dp, which the metrics collector reads from its own
	// goroutine: the datapath's methods are not safe for concurrent use.
	mu     sync.Mutex
	dp     director.Datapath
	tunnel netip.Addr
	// failure says why the node has no datapath; empty while it has one.
	failure string
	// serving are the director Services the node announced at the last
	// recompute, and finishing those it finishes, with until when.
	serving   map[string]bool
	finishing map[string]time.Time
	// unreachable are the other nodes that stopped answering, sorted.
	unreachable []string
}

// directorFindings is what a recompute shows about the director in the
// node's status; zero when no pool has the director on.
type directorFindings struct {
	node      *v1alpha1.NodeDirector
	condition *metav1.Condition
	// finishing are the Services the node finishes, sorted.
	finishing []string
}

// livenessNote says which nodes the tables leave out because they do not
// answer, or why the node cannot tell.
func (d *directorRunner) livenessNote() string {
	switch {
	case d.liveness == nil:
		return ""
	case d.liveness.Err() != nil:
		return "; other nodes are not watched: " + d.liveness.Err().Error()
	case len(d.unreachable) > 0:
		return "; nodes that do not answer own nothing: " + strings.Join(d.unreachable, ", ")
	}
	return ""
}

// directorService is a Service of a director pool, with its pool's drain
// timeout.
type directorService struct {
	service      director.Service
	drainTimeout time.Duration
}

// run is the director's step of a recompute. It returns what to show in
// the status, and when the next Service stops finishing (zero if none).
func (d *directorRunner) run(ctx context.Context, c *cluster, in *announce.Input, result announce.Result, now time.Time) (directorFindings, time.Time, error) {
	pools := translate.DirectorPools(c.pools.Items)
	if len(pools) == 0 {
		d.stop()
		return directorFindings{}, time.Time{}, nil
	}
	services := directorServices(in.Services, pools)
	d.ensureOpen(translate.Addresses(&c.node))
	self, next := d.selfNode(result, services, now)
	if d.dp == nil {
		return d.findings(), next, nil
	}
	nodes := append(d.answering(otherDirectorNodes(c.statuses.Items, d.self)), self)
	findings := d.findings()
	plan, err := director.Build(nodes, serviceList(services), owner.DefaultSize)
	if err != nil {
		return findings, next, fmt.Errorf("director plan: %w", err)
	}
	d.mu.Lock()
	err = d.dp.Apply(ctx, director.ApplyRequest{Plan: plan, Self: d.self})
	d.mu.Unlock()
	if err != nil {
		return findings, next, fmt.Errorf("load the director plan: %w", err)
	}
	findings.node.PlanDigest = plan.Digest()
	return findings, next, nil
}

// directorServices picks the Services whose pool has the director on.
func directorServices(services []announce.Service, pools map[string]time.Duration) map[string]directorService {
	out := map[string]directorService{}
	for _, s := range services {
		timeout, ok := pools[s.Pool]
		if !ok || len(s.Addrs) == 0 {
			continue
		}
		out[s.Key] = directorService{service: director.Service{Key: s.Key, Addrs: s.Addrs}, drainTimeout: timeout}
	}
	return out
}

func serviceList(services map[string]directorService) []director.Service {
	out := make([]director.Service, 0, len(services))
	for _, s := range services {
		out = append(out, s.service)
	}
	return out
}

// ensureOpen opens the datapath once, with the node's IPv4 address as the
// tunnel address (IPv6 on an IPv6-only node). A datapath that could not
// open is tried again only when the node's address changes, since what
// stopped it (the kernel) does not change while the speaker runs.
func (d *directorRunner) ensureOpen(addrs translate.NodeAddresses) {
	tunnel := addrs.IPv4
	if !tunnel.IsValid() {
		tunnel = addrs.IPv6
	}
	if tunnel == d.tunnel && (d.dp != nil || d.failure != "") {
		return
	}
	d.stop()
	d.tunnel = tunnel
	switch {
	case !tunnel.IsValid():
		d.failure = "the node has no InternalIP address to take forwarded packets on"
	case d.open == nil:
		d.failure = "the speaker runs without a datapath"
	default:
		dp, err := d.open(tunnel)
		if err != nil {
			d.failure = err.Error()
			d.logger.Warn("director datapath unavailable; the node announces without it", "error", err)
			return
		}
		d.mu.Lock()
		d.dp, d.failure = dp, ""
		d.mu.Unlock()
		d.logger.Info("director datapath loaded", "tunnelAddress", tunnel)
	}
}

// leave hands the datapath, if open, over to the node's next speaker,
// which takes it over where this one leaves it: a restart breaks no
// forwarding. Only the reconciler's owner calls it, once no recompute
// runs any more.
func (d *directorRunner) leave() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dp != nil {
		if err := d.dp.Leave(); err != nil {
			d.logger.Warn("cannot hand the director datapath over", "error", err)
		}
	}
	d.dp = nil
}

// stop closes the datapath, if open, and forgets the node's Services.
func (d *directorRunner) stop() {
	d.mu.Lock()
	if d.dp != nil {
		if err := d.dp.Close(); err != nil {
			d.logger.Warn("cannot remove the director datapath", "error", err)
		}
	}
	d.dp = nil
	d.mu.Unlock()
	d.failure, d.tunnel = "", netip.Addr{}
	d.serving, d.finishing = nil, nil
}

// selfNode is this node's part in the plan: serving the director Services
// it announces, draining those whose paths drain, and finishing those it
// announced before but announces no more, until their pool's drain
// timeout ends. It returns when the first finishing Service ends.
func (d *directorRunner) selfNode(result announce.Result, services map[string]directorService, now time.Time) (director.Node, time.Time) {
	self := director.Node{Name: d.self, Ready: d.dp != nil, TunnelAddress: d.tunnel, Roles: map[string]director.Role{}}
	for _, key := range result.Announced {
		if _, ok := services[key]; ok {
			self.Roles[key] = director.Serving
		}
	}
	for _, key := range result.Draining {
		if _, ok := self.Roles[key]; ok {
			self.Roles[key] = director.Draining
		}
	}
	finishing := map[string]time.Time{}
	for key := range d.serving {
		if _, still := self.Roles[key]; !still {
			if svc, ok := services[key]; ok {
				finishing[key] = now.Add(svc.drainTimeout)
			}
		}
	}
	for key, until := range d.finishing {
		if _, still := self.Roles[key]; !still && now.Before(until) {
			finishing[key] = until
		}
	}
	var next time.Time
	for key, until := range finishing {
		self.Roles[key] = director.Draining
		if next.IsZero() || until.Before(next) {
			next = until
		}
	}
	d.serving = map[string]bool{}
	for key, role := range self.Roles {
		if _, fin := finishing[key]; !fin && role != director.NotServing {
			d.serving[key] = true
		}
	}
	d.finishing = finishing
	return self, next
}

// otherDirectorNodes reads the other nodes' director state from their
// status objects.
func otherDirectorNodes(statuses []v1alpha1.BGPNodeStatus, self string) []director.Node {
	out := make([]director.Node, 0, len(statuses))
	for i := range statuses {
		if statuses[i].Name != self {
			out = append(out, translate.DirectorNode(&statuses[i]))
		}
	}
	return out
}

// answering watches the other nodes that could own connections, and
// takes those that stopped answering out of the tables: a node that died
// keeps its status object, which says it serves.
func (d *directorRunner) answering(others []director.Node) []director.Node {
	if d.liveness == nil {
		return others
	}
	targets := map[string]netip.Addr{}
	for _, n := range others {
		if n.Ready && n.TunnelAddress.IsValid() {
			targets[n.Name] = n.TunnelAddress
		}
	}
	d.liveness.SetTargets(targets)
	down := d.liveness.Unreachable()
	d.unreachable = d.unreachable[:0]
	for i := range others {
		if down[others[i].Name] {
			others[i].Ready = false
			d.unreachable = append(d.unreachable, others[i].Name)
		}
	}
	slices.Sort(d.unreachable)
	return others
}

// findings is what the status shows about the director.
func (d *directorRunner) findings() directorFindings {
	f := directorFindings{node: &v1alpha1.NodeDirector{Ready: d.dp != nil}}
	if d.tunnel.IsValid() {
		f.node.TunnelAddress = d.tunnel.String()
	}
	cond := metav1.Condition{Type: v1alpha1.ConditionDirectorReady, Status: metav1.ConditionTrue,
		Reason: v1alpha1.ReasonDatapathLoaded, Message: "the datapath forwards to flow owners through " + d.tunnel.String()}
	if d.dp == nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, v1alpha1.ReasonDatapathUnavailable,
			conditionMessage("the node announces without the director: "+d.failure)
	}
	cond.Message = conditionMessage(cond.Message + d.livenessNote() + d.datapathNote())
	f.condition = &cond
	for key := range d.finishing {
		f.finishing = append(f.finishing, key)
	}
	slices.Sort(f.finishing)
	return f
}

// datapathNote says what the datapath found on the node and changed
// there: the tunnel device, reverse-path filtering, conntrack.
func (d *directorRunner) datapathNote() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dp == nil {
		return ""
	}
	findings := d.dp.Findings()
	note := ""
	if len(findings.Found) > 0 {
		note += "; found: " + strings.Join(findings.Found, "; ")
	}
	if len(findings.Changed) > 0 {
		note += "; changed: " + strings.Join(findings.Changed, "; ")
	}
	return note
}

// counters reads the datapath's packet counters; false while there is no
// datapath.
func (d *directorRunner) counters(ctx context.Context) (director.Counters, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dp == nil {
		return director.Counters{}, false
	}
	c, err := d.dp.Counters(ctx)
	if err != nil {
		d.logger.Warn("cannot read the director's counters", "error", err)
		return director.Counters{}, false
	}
	return c, true
}
