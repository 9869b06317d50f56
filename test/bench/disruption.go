package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/k8s/translate"
	"github.com/bgplb/bgplb/internal/poll"
	"github.com/bgplb/bgplb/test/lab"
)

// disruptionCase is one event measured with a mitigation on or off.
type disruptionCase struct {
	event, mitigation string
	on                bool
	// bfd runs BFD; noGR turns graceful restart off (it is on otherwise);
	// hold gives the advertisement an addition hold that no test outlasts.
	bfd, noGR, hold bool
	// local makes the Service externalTrafficPolicy: Local with endpoints
	// on node-0 and the victim; otherwise it is a Cluster Service
	// announced by all three nodes.
	local bool
	// director turns the director on for the Service's pool.
	director bool
	// prepare runs before the traffic starts, and returns once the
	// router's next hops are what the event starts from.
	prepare prepareFunc
	// event runs the event on the victim and returns when the router has
	// converged: its kernel next hops are final.
	run eventFunc
}

// disruptionTarget is what an event acts on: the lab, the node the event
// happens to, and the Service under traffic with its address.
type disruptionTarget struct {
	lab    *lab.Lab
	victim *lab.Node
	svc    *corev1.Service
	addr   netip.Addr
}

// prepareFunc brings the target into the state an event starts from.
type prepareFunc func(ctx context.Context, t disruptionTarget) error

// eventFunc runs an event on the target and returns how long the router
// took to converge.
type eventFunc func(ctx context.Context, t disruptionTarget) (time.Duration, error)

// disruptionCases are the events of a node's life that change a prefix's
// next-hop set, each with its mitigation on and off.
func disruptionCases() []disruptionCase {
	return []disruptionCase{
		{event: "speaker restart (SIGTERM)", mitigation: "graceful restart", on: true, run: restartSpeaker},
		{event: "speaker restart (SIGTERM)", mitigation: "graceful restart", on: false, noGR: true, run: restartSpeaker},
		{event: "node crash (link cut)", mitigation: "BFD 3x100ms", on: true, bfd: true, run: crashNode},
		{event: "node crash (link cut)", mitigation: "BFD 3x100ms", on: false, run: crashNode},
		{event: "planned drain", mitigation: "graceful shutdown", on: true, run: drainNode},
		{event: "planned drain", mitigation: "graceful shutdown", on: false, noGR: true, run: leaveNode},
		{event: "node join", mitigation: "addition hold", on: true, hold: true, prepare: excludeNode, run: joinNode(true)},
		{event: "node join", mitigation: "addition hold", on: false, prepare: excludeNode, run: joinNode(false)},
		{event: "endpoint move", mitigation: "addition hold", on: true, hold: true, local: true, prepare: announcedOnBoth, run: moveEndpoint(true)},
		{event: "endpoint move", mitigation: "addition hold", on: false, local: true, prepare: announcedOnBoth, run: moveEndpoint(false)},
		{event: "speaker restart (SIGTERM)", mitigation: "director", on: true, director: true, run: restartSpeaker},
		{event: "node crash (link cut)", mitigation: "director", on: true, director: true, bfd: true, run: crashNode},
		{event: "planned drain", mitigation: "director", on: true, director: true, run: drainNode},
		{event: "node join", mitigation: "director", on: true, director: true, prepare: excludeNode, run: joinNode(false)},
		{event: "endpoint move", mitigation: "director", on: true, director: true, local: true, prepare: announcedOnBoth, run: moveEndpointKeepingOldPod},
	}
}

// restartSpeaker stops the victim's speaker with SIGTERM and starts it
// again once its session has ended; the event ends when the session is
// back and the router has all three next hops.
func restartSpeaker(_ context.Context, t disruptionTarget) (time.Duration, error) {
	start := time.Now()
	t.lab.StopSpeaker(t.victim, syscall.SIGTERM)
	if err := untilSession(t.lab, t.victim, false, 30*time.Second); err != nil {
		return 0, err
	}
	if err := t.lab.StartSpeaker(t.victim); err != nil {
		return 0, err
	}
	if err := untilSession(t.lab, t.victim, true, 60*time.Second); err != nil {
		return 0, err
	}
	if err := untilHops(t.lab, t.addr, 3, 60*time.Second); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// untilSession waits until the router's session to node is established
// (up) or not.
func untilSession(l *lab.Lab, node *lab.Node, up bool, timeout time.Duration) error {
	what := "the session to " + node.Name + " ends"
	if up {
		what = "the session to " + node.Name + " comes back"
	}
	return until(timeout, what, func() bool {
		established, err := l.Router.Established()
		return err == nil && slices.Contains(established, node.Addr4.String()) == up
	})
}

// crashNode cuts the victim's link and kills its speaker, so that nothing
// tells the router; the event ends when the router has dropped it.
func crashNode(_ context.Context, t disruptionTarget) (time.Duration, error) {
	restore, err := t.lab.CutLink(t.victim)
	if err != nil {
		return 0, err
	}
	defer restore()
	start := time.Now()
	t.lab.StopSpeaker(t.victim, syscall.SIGKILL)
	if err := untilHops(t.lab, t.addr, 2, 60*time.Second); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// drainNode drains the victim with the drain annotation. It converges
// when the router stops choosing the victim, and returns once the
// victim's path is withdrawn at the end of the drain time, so that
// traffic is measured through the withdrawal too.
func drainNode(ctx context.Context, t disruptionTarget) (time.Duration, error) {
	start := time.Now()
	if err := setNodeMeta(ctx, t.lab, t.victim.Name, func(n *corev1.Node) {
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		n.Annotations[v1alpha1.AnnotationDrain] = "true"
	}); err != nil {
		return 0, err
	}
	if err := untilHops(t.lab, t.addr, 2, 30*time.Second); err != nil {
		return 0, err
	}
	converged := time.Since(start)
	if err := untilWithdrawn(t.lab, t.victim, t.addr); err != nil {
		return 0, err
	}
	return converged, nil
}

// untilWithdrawn waits until the router has no BGP path for addr through
// node.
func untilWithdrawn(l *lab.Lab, node *lab.Node, addr netip.Addr) error {
	frr := l.Router.(*lab.FRR)
	return until(time.Minute, node.Name+"'s path is withdrawn", func() bool {
		paths, err := frr.BGPPaths(netip.PrefixFrom(addr, addr.BitLen()))
		if err != nil {
			return false
		}
		for _, p := range paths {
			if p.NextHop == node.Addr4.String() {
				return false
			}
		}
		return true
	})
}

// leaveNode is a node leaving without a drain: it withdraws at once, as a
// speaker stopped without graceful restart does.
func leaveNode(_ context.Context, t disruptionTarget) (time.Duration, error) {
	start := time.Now()
	t.lab.StopSpeaker(t.victim, syscall.SIGTERM)
	if err := untilHops(t.lab, t.addr, 2, 30*time.Second); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// excludeNode prepares a join: the victim goes into maintenance (the
// exclusion label), so that taking the label away later joins it to the
// load balancing set, which for the router is the same as a new node.
func excludeNode(ctx context.Context, t disruptionTarget) error {
	if err := setNodeMeta(ctx, t.lab, t.victim.Name, func(n *corev1.Node) {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[announce.ExcludeLabel] = ""
	}); err != nil {
		return err
	}
	if err := untilHops(t.lab, t.addr, 2, 30*time.Second); err != nil {
		return err
	}
	// The node is out once its drain time is over and it announces
	// nothing; until then, taking the label away is not a join.
	key := translate.ServiceKey(t.svc)
	return until(time.Minute, t.victim.Name+" announces "+key+" no more", func() bool {
		_, listed, err := announcementState(ctx, t.lab, t.victim.Name, key)
		return err == nil && !listed
	})
}

// joinNode takes the exclusion label off the victim; with hold, the
// advertisement holds the addition back.
func joinNode(hold bool) eventFunc {
	return func(ctx context.Context, t disruptionTarget) (time.Duration, error) {
		start := time.Now()
		if err := setNodeMeta(ctx, t.lab, t.victim.Name, func(n *corev1.Node) { delete(n.Labels, announce.ExcludeLabel) }); err != nil {
			return 0, err
		}
		return settle(ctx, t, t.victim, hold, 3, start)
	}
}

// announcedOnBoth prepares an endpoint move. Speakers learn who announces
// from each other's status objects, which trail the announcements; a node
// that joins before they show counts as one of the first next hops, which
// no hold holds back. So a move starts once node-0 and the victim show the
// Service announced.
func announcedOnBoth(ctx context.Context, t disruptionTarget) error {
	key := translate.ServiceKey(t.svc)
	for _, n := range []*lab.Node{t.lab.Nodes[0], t.victim} {
		err := until(30*time.Second, n.Name+" shows "+key+" announced", func() bool {
			state, _, err := announcementState(ctx, t.lab, n.Name, key)
			return err == nil && state == v1alpha1.AnnouncementAnnounced
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// moveEndpoint moves the Service's endpoint from the victim to node-2: the
// victim withdraws and node-2 joins, held back with hold.
func moveEndpoint(hold bool) eventFunc {
	return func(ctx context.Context, t disruptionTarget) (time.Duration, error) {
		start := time.Now()
		if _, err := t.lab.PlacePods(ctx, t.svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}, "node-2": {lab.Ready}}); err != nil {
			return 0, err
		}
		return settle(ctx, t, t.lab.Nodes[2], hold, 2, start)
	}
}

// settle waits for the end of an event that adds joiner: with a hold,
// until joiner's status shows the Service held (the router's next hops
// are then final without it); without, until the router has want next
// hops.
func settle(ctx context.Context, t disruptionTarget, joiner *lab.Node, hold bool, want int, start time.Time) (time.Duration, error) {
	if !hold {
		if err := untilHops(t.lab, t.addr, want, 30*time.Second); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	key := translate.ServiceKey(t.svc)
	var state string
	if err := until(30*time.Second, joiner.Name+" holds or announces "+key, func() bool {
		current, listed, err := announcementState(ctx, t.lab, joiner.Name, key)
		if err != nil {
			return false
		}
		if listed {
			state = current
		}
		return state == v1alpha1.AnnouncementHeld || state == v1alpha1.AnnouncementAnnounced
	}); err != nil {
		return 0, fmt.Errorf("%w (last state %q)", err, state)
	}
	if state == v1alpha1.AnnouncementAnnounced {
		// The hold did not hold: the row says so rather than pass the
		// join off as held.
		return time.Since(start), errNotHeld
	}
	return time.Since(start), nil
}

// announcementState is the state node's BGPNodeStatus shows for the
// Service key; listed is false when the node does not list the Service.
// The status lists each Service once.
func announcementState(ctx context.Context, l *lab.Lab, node, key string) (state string, listed bool, err error) {
	var st v1alpha1.BGPNodeStatus
	if err := l.Client.Get(ctx, client.ObjectKey{Name: node}, &st); err != nil {
		return "", false, err
	}
	for _, s := range st.Status.Services {
		if s.Name == key {
			return s.State, true, nil
		}
	}
	return "", false, nil
}

// errNotHeld reports a node that announced an addition the advertisement
// should have held back.
var errNotHeld = errors.New("the joining node was not held")

func setNodeMeta(ctx context.Context, l *lab.Lab, name string, edit func(*corev1.Node)) error {
	var n corev1.Node
	if err := l.Client.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil {
		return err
	}
	patch := client.MergeFrom(n.DeepCopy())
	edit(&n)
	return l.Client.Patch(ctx, &n, patch)
}

// disruptionRow is one measured case.
type disruptionRow struct {
	hashing           string
	event, mitigation string
	on                bool
	conns, broken     int
	// reset and hung split broken: a reset the client saw, or echoes that
	// stopped coming back.
	reset, hung      int
	failed, attempts int
	converged        time.Duration
	// notHeld marks a run with a hold in which the joining node announced
	// at once.
	notHeld bool
}

// disruptionReport runs every case for each router hashing mode in a lab
// of its own, prints a table and, if outDir is set, writes the table and a
// chart there.
func disruptionReport(binDir string, conns int, hashings []string, outDir string) error {
	fmt.Printf("\nconnection disruption through the FRR router, %d busy connections per run:\n", conns)
	fmt.Printf("  %-15s %-26s %-18s %-4s %8s %12s %12s %11s\n", "router hashing", "event", "mitigation", "", "broken", "reset/hung", "failed new", "converged")
	var rows []disruptionRow
	for _, hashing := range hashings {
		for _, c := range disruptionCases() {
			r, err := runDisruption(binDir, conns, hashing, c)
			if err != nil {
				return fmt.Errorf("%s, %s, %s %v: %w", hashing, c.event, c.mitigation, c.on, err)
			}
			rows = append(rows, r)
			fmt.Printf("  %-15s %-26s %-18s %-4s %8s %12s %12s %10.2fs\n", hashing, c.event, c.mitigation, r.state(),
				fmt.Sprintf("%d/%d", r.broken, conns), fmt.Sprintf("%d/%d", r.reset, r.hung), fmt.Sprintf("%d/%d", r.failed, r.attempts), r.converged.Seconds())
		}
	}
	fmt.Println("  (converged: until the router's kernel next hops were final; for a restart, until the node's session")
	fmt.Println("   was back and the kernel had all three next hops; for a held addition, until the node reported it")
	fmt.Println("   held; broken and failed counts include the whole event and two seconds after it)")
	if outDir == "" {
		return nil
	}
	return writeDisruptionReport(outDir, rows)
}

// state is the mitigation's state as the table shows it: on, off, or on
// but not holding what it should have held.
func (r disruptionRow) state() string {
	if r.notHeld {
		return "on, not held"
	}
	return onOff(r.on)
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// runDisruption measures one case in a lab of its own: the configuration
// and the Service go in, the case's event runs under traffic, and the row
// holds what broke.
func runDisruption(binDir string, conns int, hashing string, c disruptionCase) (disruptionRow, error) {
	row := disruptionRow{hashing: hashing, event: c.event, mitigation: c.mitigation, on: c.on, conns: conns}
	ctx := context.Background()
	l, err := lab.Start(ctx, lab.Config{Nodes: 3, BinDir: binDir, BFD: c.bfd, RouterHashing: hashing, Director: c.director})
	if err != nil {
		return row, err
	}
	defer l.Close()
	if err := createDisruptionConfig(ctx, l, c); err != nil {
		return row, err
	}
	svc, addr, err := startDisruptedService(ctx, l, c.local)
	if err != nil {
		return row, err
	}
	if c.bfd {
		if err := untilBFDUp(l); err != nil {
			return row, err
		}
	}
	if c.director {
		if err := untilDirectorReady(ctx, l); err != nil {
			return row, err
		}
	}
	target := disruptionTarget{lab: l, victim: l.Nodes[1], svc: svc, addr: addr}
	if c.prepare != nil {
		if err := c.prepare(ctx, target); err != nil {
			return row, err
		}
	}
	if c.director {
		if err := untilPlansAgree(ctx, l, translate.ServiceKey(svc), addr); err != nil {
			return row, err
		}
	}
	err = measureEvent(ctx, c.run, target, &row)
	return row, err
}

// createDisruptionConfig creates the pool, the advertisement (with the
// case's addition hold), the BFD profile if the case runs BFD, and the
// router's peer with the case's graceful restart.
func createDisruptionConfig(ctx context.Context, l *lab.Lab, c disruptionCase) error {
	peer := &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router"}, Spec: v1alpha1.BGPPeerSpec{
		MyASN: lab.NodeASN, PeerASN: lab.RouterASN, PeerAddress: lab.RouterLAN4,
		HoldTime: &metav1.Duration{Duration: 9 * time.Second}, ConnectTime: &metav1.Duration{Duration: time.Second},
		DrainTime:       &metav1.Duration{Duration: 5 * time.Second},
		GracefulRestart: &v1alpha1.GracefulRestart{Enabled: ptr.To(!c.noGR)}}}
	adv := &v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}
	if c.hold {
		adv.Spec.AdditionHold = &v1alpha1.AdditionHold{MinDelay: &metav1.Duration{Duration: time.Hour}}
	}
	pool := &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: v1alpha1.IPPoolSpec{Addresses: []v1alpha1.AddressRange{"203.0.113.0/24"}}}
	if c.director {
		pool.Spec.Director = &v1alpha1.PoolDirector{Enabled: true, DrainTimeout: &metav1.Duration{Duration: directorDrainTimeout}}
	}
	objs := []client.Object{pool, adv}
	if c.bfd {
		objs = append(objs, &v1alpha1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, Spec: v1alpha1.BFDProfileSpec{
			ReceiveInterval: ptr.To[int32](100), TransmitInterval: ptr.To[int32](100), DetectMultiplier: ptr.To[int32](3)}})
		peer.Spec.BFDProfile = "fast"
	}
	objs = append(objs, peer)
	for _, o := range objs {
		if err := l.Client.Create(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// startDisruptedService creates the Service under traffic with its pods
// and returns its address once the router has a next hop for every node
// that announces it: all three for a Cluster Service, node-0 and node-1
// for a Local one.
func startDisruptedService(ctx context.Context, l *lab.Lab, local bool) (*corev1.Service, netip.Addr, error) {
	svc := service("disrupted")
	svc.Spec.AllocateLoadBalancerNodePorts = nil
	endpoints := map[string][]lab.EndpointState{"node-0": {lab.Ready}}
	hops := 3
	if local {
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		endpoints["node-1"] = []lab.EndpointState{lab.Ready}
		hops = 2
	}
	if err := l.Client.Create(ctx, svc); err != nil {
		return nil, netip.Addr{}, err
	}
	if err := l.SetEndpoints(ctx, svc, endpoints); err != nil {
		return nil, netip.Addr{}, err
	}
	addr, err := serviceAddr(ctx, l, svc)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	if err := untilHops(l, addr, hops, 60*time.Second); err != nil {
		return nil, netip.Addr{}, err
	}
	return svc, addr, nil
}

// serviceAddr waits for the Service's address.
func serviceAddr(ctx context.Context, l *lab.Lab, svc *corev1.Service) (netip.Addr, error) {
	var addr netip.Addr
	err := until(60*time.Second, "the Service gets an address", func() bool {
		var s corev1.Service
		if l.Client.Get(ctx, client.ObjectKeyFromObject(svc), &s) == nil && len(s.Status.LoadBalancer.Ingress) > 0 {
			addr, _ = netip.ParseAddr(s.Status.LoadBalancer.Ingress[0].IP)
		}
		return addr.IsValid()
	})
	return addr, err
}

// untilBFDUp waits until the router has a BFD session up with each of the
// three nodes.
func untilBFDUp(l *lab.Lab) error {
	frr := l.Router.(*lab.FRR)
	return until(30*time.Second, "three BFD sessions are up", func() bool {
		peers, err := frr.BFDPeers()
		up := 0
		for _, p := range peers {
			if p.Status == "up" {
				up++
			}
		}
		return err == nil && up == 3
	})
}

// measureEvent runs event on the target under traffic of row.conns busy
// connections and a probe, goes on for two seconds after the router has
// converged, and fills in row what broke and when it converged.
func measureEvent(ctx context.Context, event eventFunc, t disruptionTarget, row *disruptionRow) error {
	d, err := t.lab.StartDisruption(ctx, lab.DisruptionConfig{Addr: t.addr, Conns: row.conns})
	if err != nil {
		return err
	}
	defer d.Stop()
	row.converged, err = event(ctx, t)
	if errors.Is(err, errNotHeld) {
		row.notHeld = true
	} else if err != nil {
		return err
	}
	// Traffic goes on for two seconds after convergence, counted by the
	// probe rather than the clock.
	want := d.Progress().ProbeAttempts + int(2*time.Second/lab.DefaultDisruptionProbeEvery)
	if err := until(time.Minute, "the probe runs two seconds more", func() bool { return d.Progress().ProbeAttempts >= want }); err != nil {
		return err
	}
	r := d.Stop()
	row.broken, row.failed, row.attempts = r.Broken(), r.Probe.Failures, r.Probe.Attempts
	row.reset, row.hung = r.Total.Reset, r.Total.Hung
	return nil
}

func untilHops(l *lab.Lab, addr netip.Addr, n int, timeout time.Duration) error {
	return until(timeout, fmt.Sprintf("the router's kernel route for %s has %d next hops", addr, n), func() bool {
		hops, err := l.Router.KernelNextHops(netip.PrefixFrom(addr, addr.BitLen()))
		return err == nil && len(hops) == n
	})
}

// until polls cond every 10 ms, the resolution of the times the report
// gives, until it holds or timeout passes; the error names what.
func until(timeout time.Duration, what string, cond func() bool) error {
	return poll.UntilEvery(context.Background(), 10*time.Millisecond, timeout, what, func() (bool, string) { return cond(), "" })
}
