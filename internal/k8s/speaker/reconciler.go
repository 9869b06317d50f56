package speaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
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
	// holdsInUse is set while some advertisement holds additions; only
	// then do other nodes' status changes start a recompute.
	holdsInUse atomic.Bool
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
	reconcileDuration.Observe(took.Seconds())
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
	var node corev1.Node
	if err := r.client.Get(ctx, client.ObjectKey{Name: r.nodeName}, &node); err != nil {
		// Without its Node the speaker cannot tell what to announce; it
		// keeps what it announces until the Node is readable again.
		return time.Time{}, fmt.Errorf("get node %s: %w", r.nodeName, err)
	}
	var (
		services   corev1.ServiceList
		endpoints  discoveryv1.EndpointSliceList
		pools      v1alpha1.IPPoolList
		peers      v1alpha1.BGPPeerList
		adverts    v1alpha1.BGPAdvertisementList
		secretList corev1.SecretList
		bfdList    v1alpha1.BFDProfileList
		statuses   v1alpha1.BGPNodeStatusList
	)
	// Every recompute reads every Service and EndpointSlice; the cache's
	// copies are only read here, so copying them all each time is waste.
	for _, l := range []client.ObjectList{&services, &endpoints, &pools, &peers, &adverts, &bfdList, &statuses} {
		if err := r.client.List(ctx, l, client.UnsafeDisableDeepCopy); err != nil {
			return time.Time{}, fmt.Errorf("list %T: %w", l, err)
		}
	}
	if err := r.client.List(ctx, &secretList, client.InNamespace(r.namespace)); err != nil {
		return time.Time{}, fmt.Errorf("list secrets: %w", err)
	}

	problems := map[string]string{}
	self, nodeDrain := translate.Node(&node)
	drainReason := nodeDrain.Reason()
	in := announce.Input{Node: self, Now: now}
	if !r.hold.loaded {
		var own *v1alpha1.BGPNodeStatus
		for i := range statuses.Items {
			if statuses.Items[i].Name == r.nodeName {
				own = &statuses.Items[i]
			}
		}
		r.hold.load(own)
	}
	in.Admitted, in.HeldSince = r.hold.admitted, r.hold.heldSince
	// Who else announces what matters only to advertisements that hold
	// additions, and costs a map of every node's Services to find out.
	holds := slices.ContainsFunc(adverts.Items, func(a v1alpha1.BGPAdvertisement) bool { return a.Spec.AdditionHold != nil })
	r.holdsInUse.Store(holds)
	var others map[string][]string
	if holds {
		others = announcers(statuses.Items, r.nodeName)
	}

	slicesByService := translate.SlicesByService(endpoints.Items)
	for i := range services.Items {
		s := &services.Items[i]
		svc, ok := translate.AnnouncedService(s, slicesByService[translate.ServiceKey(s)])
		if !ok {
			continue
		}
		svc.AnnouncedElsewhere = announcedElsewhere(&svc, others[svc.Key])
		var err error
		if svc.ReleasedAt, err = releasedAt(s); err != nil {
			problems["Service/"+svc.Key] = err.Error()
		}
		in.Services = append(in.Services, svc)
	}
	in.Pools = translate.AnnouncePools(pools.Items)
	goodAdverts := map[string]announce.Advertisement{}
	for i := range adverts.Items {
		name := adverts.Items[i].Name
		adv, err := translate.UsableAdvertisement(&adverts.Items[i])
		if err != nil {
			// A broken edit keeps the last good version in use, so a typo
			// withdraws nothing.
			last, ok := r.lastAdverts[name]
			if !ok {
				problems["BGPAdvertisement/"+name] = err.Error()
				continue
			}
			problems["BGPAdvertisement/"+name] = err.Error() + "; keeping the previous version"
			adv = last
		}
		goodAdverts[name] = adv
		in.Advertisements = append(in.Advertisements, adv)
	}
	r.lastAdverts = goodAdverts

	secrets := map[string]*corev1.Secret{}
	for i := range secretList.Items {
		secrets[secretList.Items[i].Name] = &secretList.Items[i]
	}
	bfdProfiles := map[string]*v1alpha1.BFDProfile{}
	for i := range bfdList.Items {
		p := &bfdList.Items[i]
		bfdProfiles[p.Name] = p
		if p.Spec.PassiveMode {
			problems["BFDProfile/"+p.Name] = translate.PassiveModeIgnored
		}
	}
	refs := translate.PeerReferences{SpeakerNamespace: r.namespace, Secrets: secrets, BFDProfiles: bfdProfiles}
	addrs := translate.Addresses(&node)
	enginePeers := map[string]bgp.Peer{}
	goodPeers := map[string]peerVersion{}
	for i := range peers.Items {
		p := &peers.Items[i]
		var v peerVersion
		var err error
		v.rules, v.session, err = translate.Peer(p, addrs, refs)
		if err != nil {
			// A peer that worked keeps its session as it was: a Secret
			// being replaced or a typo must not drop the routes.
			last, ok := r.lastPeers[p.Name]
			if !ok {
				problems["BGPPeer/"+p.Name] = err.Error()
				continue
			}
			problems["BGPPeer/"+p.Name] = err.Error() + "; keeping the previous version"
			v = last
		}
		goodPeers[p.Name] = v
		in.Peers = append(in.Peers, v.rules)
		enginePeers[p.Name] = v.session
	}
	r.lastPeers = goodPeers

	drain := drainOf(&in, drainReason)
	in.Node.DrainSince = r.drain.observe(drain.reason != "", now)
	result := announce.Compute(in)
	r.drain.set(drainStatusOf(in, result))
	drain.since, drain.until = in.Node.DrainSince, drainEnd(in, result)
	r.drainEvents.report(&node, drain, now)
	r.events.report(now, &in, result, r.hold.heldSince, services.Items)
	for _, svc := range r.releases.check(r.nodeName, in.Services, result, statuses.Items, holds) {
		r.events.nothingReleased(now, svc)
	}
	r.hold.update(result)
	heldServices.Set(float64(len(result.Held)))
	for name, err := range result.Errors {
		problems["BGPAdvertisement/"+name] = err.Error()
	}
	warnings := map[string]string{}
	for name, err := range result.Warnings {
		warnings["BGPAdvertisement/"+name] = err.Error()
	}
	r.report(problems, warnings)
	if r.status != nil {
		addrs := make(map[string]string, len(enginePeers))
		for name, p := range enginePeers {
			addrs[name] = p.Address.String()
		}
		r.status.set(nodeStatusOf(result, drain), node.UID, addrs, problems)
	}

	var wantPeers []bgp.Peer
	wantPaths := map[string][]bgp.Path{}
	facts := map[string]peerFacts{}
	for name, paths := range result.Sessions {
		bp, ok := enginePeers[name]
		if !ok {
			continue
		}
		wantPeers = append(wantPeers, bp)
		facts[name] = peerFacts{password: bp.Password != "", gracefulRestart: bp.GracefulRestart.Enabled}
		converted := make([]bgp.Path, 0, len(paths))
		for _, p := range paths {
			if (p.Prefix.Addr().Is4() && !bp.NextHopIPv4.IsValid()) || (p.Prefix.Addr().Is6() && !bp.NextHopIPv6.IsValid()) {
				continue // no next hop of that family on this node
			}
			converted = append(converted, pathToEngine(p))
		}
		wantPaths[name] = converted
	}
	sort.Slice(wantPeers, func(i, j int) bool { return wantPeers[i].Name < wantPeers[j].Name })
	r.sessions.setPeers(facts)

	errPeers := r.engine.ReconcilePeers(ctx, bgp.ReconcilePeersRequest{Peers: wantPeers})
	_, errPaths := r.engine.ReconcilePaths(ctx, bgp.ReconcilePathsRequest{Paths: wantPaths})
	countUpdates(r.lastPaths, wantPaths)
	r.lastPaths = wantPaths
	next := result.NextChange
	if drain.reason != "" && !drain.over(now) && (next.IsZero() || drain.until.Before(next)) {
		// A node that announces nothing has no path whose drain time
		// ends, but its drain still ends, and the end is reported.
		next = drain.until
	}
	return next, errors.Join(errPeers, errPaths)
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
	draining := in.Node.Drain
	if !draining && in.Node.Cordoned {
		for _, paths := range res.Sessions {
			for _, p := range paths {
				draining = draining || p.Draining
			}
		}
	}
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
