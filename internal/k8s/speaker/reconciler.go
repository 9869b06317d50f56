package speaker

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// speakerReconciler recomputes everything this node announces on every
// change and hands the difference to the engine. All events map to one
// request, so a burst of events collapses into one recompute, and the work
// queue runs one Reconcile at a time.
type speakerReconciler struct {
	client    client.Client
	engine    bgp.Engine
	logger    *slog.Logger
	metrics   *speakerMetrics
	nodeName  string
	namespace string
	// reported remembers configuration problems already logged, so that an
	// unchanged problem is not logged on every recompute.
	reported map[string]string
	// sessions reports sessions that stay down; it needs to know which
	// peers use a password.
	sessions *sessionWatch
	// lastPeers and lastAdverts are the last versions that could be used,
	// kept while an edit is broken.
	lastPeers   map[string]peerVersion
	lastAdverts map[string]announce.Advertisement
	// drain remembers when the node started draining, and tells shutdown
	// how the drain stands; drainEvents reports its changes on the Node.
	drain       drainTracker
	drainEvents drainEvents
	// hold carries held additions from one recompute to the next, and
	// status publishes them with what the node announces.
	hold   holdTracker
	status *nodeStatusWriter
	// events reports on Services when the node starts or stops announcing
	// them, and when their release annotation releases nothing, which
	// releases finds.
	events   *announcementEvents
	releases releaseCheck
	// lastPaths is what the last recompute asked the engine to announce,
	// for counting the updates the next one causes.
	lastPaths map[string][]bgp.Path
	// othersRead says which parts of other nodes' status objects the
	// rules read; only changes to those start a recompute.
	othersRead othersRead
	// director drives the node's datapath when some pool has the
	// director on.
	director directorRunner
}

func (r *speakerReconciler) drainState() drainStatus { return r.drain.get() }

// peerVersion is one usable version of a BGPPeer.
type peerVersion struct {
	rules   announce.Peer
	session bgp.Peer
}

func (r *speakerReconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	start := time.Now()
	next, err := r.recompute(ctx, start)
	took := time.Since(start)
	r.metrics.reconcileDuration.Observe(took.Seconds())
	pace(ctx, took)
	if next.IsZero() {
		return reconcile.Result{}, err
	}
	// A drain ends by the clock, not by an event, and the end must not
	// wait for the growing back-off of a failing recompute.
	wait := max(time.Until(next), time.Millisecond)
	if err != nil {
		r.logger.Error("recompute failed; retrying", "error", err)
		wait = min(wait, drainRetry)
	}
	return reconcile.Result{RequeueAfter: wait}, nil
}

// drainRetry is how soon a failed recompute is retried while a drain runs.
const drainRetry = 5 * time.Second

// pace waits after a recompute that took took, so that events arriving
// meanwhile collapse into the next one: during a burst of thousands of
// changes, back-to-back recomputes of everything would keep a core busy
// and starve the API server and the router of CPU. The wait is twice the
// recompute's time, which caps recomputing at a third of a core, and a
// single change after a quiet period is never held up.
func pace(ctx context.Context, took time.Duration) {
	wait := min(2*took, maxPace)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// maxPace bounds the wait between recomputes.
const maxPace = time.Second

// recompute reads everything this node's announcements depend on and
// makes the engine announce exactly that, as of now. It returns when the
// announcements change next without any event (the end of a drain time),
// or zero.
func (r *speakerReconciler) recompute(ctx context.Context, now time.Time) (time.Time, error) {
	c, err := r.read(ctx)
	if err != nil {
		return time.Time{}, err
	}
	problems := map[string]string{}
	in, nodeDrain := r.nodeInput(c, now)
	others, holds := r.otherAnnouncers(c)
	in.Services = serviceInputs(c, others, problems)
	in.Pools = translate.AnnouncePools(c.pools.Items)
	in.Advertisements, r.lastAdverts = keepUsable("BGPAdvertisement", r.lastAdverts, c.adverts.Items, translate.UsableAdvertisement, problems)
	bfdProblems(c.profiles.Items, problems)
	var sessions map[string]bgp.Peer
	in.Peers, sessions = r.peerInputs(c, problems)

	result, drain := r.compute(&in, nodeDrain.Reason(), now)
	// The datapath forwards by the new plan before the engine announces
	// it, so a node that joins takes packets only once it can forward them.
	directing, finishingEnds, directErr := r.direct(ctx, c, &in, result, now)
	r.publish(now, c, &in, result, drain, holds)
	r.reportConfiguration(c, result, sessions, drain, directing, problems)
	plan := planEngine(result, sessions)
	r.sessions.setPeers(plan.facts)
	next := earliest(nextChange(result.NextChange, drain, now), finishingEnds)
	return next, errors.Join(directErr, r.apply(ctx, plan))
}

// direct runs the director's step, and tells the status-object watch
// whether other nodes' director state matters.
func (r *speakerReconciler) direct(ctx context.Context, c *cluster, in *announce.Input, result announce.Result, now time.Time) (directorFindings, time.Time, error) {
	findings, next, err := r.director.run(ctx, c, in, result, now)
	r.othersRead.director.Store(findings.node != nil)
	return findings, next, err
}

// earliest is the earlier of two times, where zero means never.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// compute works out what the node announces, and tracks its drain: when
// it started, and until when its paths drain.
func (r *speakerReconciler) compute(in *announce.Input, drainReason string, now time.Time) (announce.Result, nodeDrain) {
	drain := drainOf(in, drainReason)
	in.Node.DrainSince = r.drain.observe(drain.reason != "", now)
	result := announce.Compute(*in)
	r.drain.set(drainStatusOf(*in, result))
	drain.since, drain.until = in.Node.DrainSince, drainEnd(*in, result)
	return result, drain
}

// publish tells about the changes of a recompute: drain events on the
// Node, announcement events and unused releases on Services. It then
// carries the held additions on to the next recompute.
func (r *speakerReconciler) publish(now time.Time, c *cluster, in *announce.Input, result announce.Result, drain nodeDrain, holds bool) {
	r.drainEvents.report(&c.node, drain, now)
	r.events.report(now, in, result, r.hold.heldSince, c.services.Items)
	for _, svc := range r.releases.check(r.nodeName, in.Services, result, c.statuses.Items, holds) {
		r.events.nothingReleased(now, svc)
	}
	r.hold.update(result)
	r.metrics.heldServices.Set(float64(len(result.Held)))
}

// reportConfiguration logs the configuration problems and limitations,
// with those the announce rules found, and writes the node's status.
func (r *speakerReconciler) reportConfiguration(c *cluster, result announce.Result, sessions map[string]bgp.Peer, drain nodeDrain, directing directorFindings, problems map[string]string) {
	for name, err := range result.Errors {
		problems["BGPAdvertisement/"+name] = err.Error()
	}
	warnings := map[string]string{}
	for name, err := range result.Warnings {
		warnings["BGPAdvertisement/"+name] = err.Error()
	}
	r.report(problems, warnings)
	if r.status != nil {
		addrs := make(map[string]string, len(sessions))
		for name, p := range sessions {
			addrs[name] = p.Address.String()
		}
		r.status.set(recomputeFindings{services: nodeStatusOf(result, drain, directing), nodeUID: c.node.UID, peerAddrs: addrs,
			problems: problems, directorCondition: directing.condition})
	}
}

// enginePlan is what the engine is asked to do: the sessions, sorted by
// name, and the paths of each; facts tell the session watch about them.
type enginePlan struct {
	peers []bgp.Peer
	paths map[string][]bgp.Path
	facts map[string]peerFacts
}

// planEngine turns the sessions the rules want into the engine's form.
// A path of a family for which the node has no next hop is left out.
func planEngine(result announce.Result, sessions map[string]bgp.Peer) enginePlan {
	plan := enginePlan{paths: map[string][]bgp.Path{}, facts: map[string]peerFacts{}}
	for name, paths := range result.Sessions {
		bp, ok := sessions[name]
		if !ok {
			continue
		}
		plan.peers = append(plan.peers, bp)
		plan.facts[name] = peerFacts{password: bp.Password != "", gracefulRestart: bp.GracefulRestart.Enabled}
		usable := make([]bgp.Path, 0, len(paths))
		for _, p := range paths {
			if (p.Prefix.Addr().Is4() && !bp.NextHopIPv4.IsValid()) || (p.Prefix.Addr().Is6() && !bp.NextHopIPv6.IsValid()) {
				continue // no next hop of that family on this node
			}
			usable = append(usable, p)
		}
		plan.paths[name] = usable
	}
	sort.Slice(plan.peers, func(i, j int) bool { return plan.peers[i].Name < plan.peers[j].Name })
	return plan
}

// apply hands the plan to the engine.
func (r *speakerReconciler) apply(ctx context.Context, plan enginePlan) error {
	errPeers := r.engine.ReconcilePeers(ctx, bgp.ReconcilePeersRequest{Peers: plan.peers})
	_, errPaths := r.engine.ReconcilePaths(ctx, bgp.ReconcilePathsRequest{Paths: plan.paths})
	r.metrics.countUpdates(r.lastPaths, plan.paths)
	r.lastPaths = plan.paths
	return errors.Join(errPeers, errPaths)
}

// nextChange is when the announcements change next without any event:
// the rules' next change, or the end of the node's drain if that comes
// first. A node that announces nothing has no path whose drain time
// ends, but its drain still ends, and the end is reported.
func nextChange(next time.Time, drain nodeDrain, now time.Time) time.Time {
	if drain.reason != "" && !drain.over(now) && (next.IsZero() || drain.until.Before(next)) {
		return drain.until
	}
	return next
}

// drainOf says what drains the node: the Node itself (reason), or else a
// cordon, but only once some advertisement that applies to the node drains
// on cordon, so that opting in on a node cordoned long ago still gives its
// paths the whole drain time, and a cordon that drains nothing here is no
// drain.
func drainOf(in *announce.Input, reason string) nodeDrain {
	d := nodeDrain{reason: reason}
	if reason != "" || !in.Node.Cordoned {
		return d
	}
	for _, a := range in.Advertisements {
		if a.DrainOnCordon && announce.AppliesToNode(a, in.Node.Labels) {
			d.cordonAdverts = append(d.cordonAdverts, a.Name)
		}
	}
	if len(d.cordonAdverts) > 0 {
		d.reason = v1alpha1.DrainReasonCordon
	}
	return d
}

// drainStatusOf says whether the node drains and until when its last
// peer's drain time runs. A cordoned node drains only if some path drains.
func drainStatusOf(in announce.Input, res announce.Result) drainStatus {
	draining := in.Node.Drain || (in.Node.Cordoned && len(res.DrainingPaths) > 0)
	if !draining {
		return drainStatus{}
	}
	return drainStatus{draining: true, until: drainEnd(in, res)}
}

// drainEnd is when the drain time of the last peer the node has a session
// with ends, counted from the start of the node's drain; zero without a
// session.
func drainEnd(in announce.Input, res announce.Result) time.Time {
	var end time.Time
	for _, p := range in.Peers {
		if _, ok := res.Sessions[p.Name]; ok {
			if e := in.Node.DrainSince.Add(p.DrainTime); e.After(end) {
				end = e
			}
		}
	}
	return end
}

// report logs configuration problems, and limitations of configuration
// that is used, once each, and when they clear.
func (r *speakerReconciler) report(problems, warnings map[string]string) {
	all := make(map[string]string, len(problems)+len(warnings))
	for obj, msg := range problems {
		all[obj] = msg
		if r.reported[obj] != msg {
			r.logger.Warn("configuration not used", "object", obj, "reason", msg)
		}
	}
	for obj, msg := range warnings {
		if _, bad := problems[obj]; bad {
			continue
		}
		all[obj] = msg
		if r.reported[obj] != msg {
			r.logger.Warn("configuration used with a limitation", "object", obj, "reason", msg)
		}
	}
	for obj := range r.reported {
		if _, still := all[obj]; !still {
			r.logger.Info("configuration problem resolved", "object", obj)
		}
	}
	r.reported = all
}
