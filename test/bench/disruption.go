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
	// prepare runs before the traffic starts, and returns once the
	// router's next hops are what the event starts from.
	prepare func(ctx context.Context, l *lab.Lab, victim *lab.Node, svc *corev1.Service, addr netip.Addr) error
	// event runs the event on the victim and returns when the router has
	// converged: its kernel next hops are final.
	run func(ctx context.Context, l *lab.Lab, victim *lab.Node, svc *corev1.Service, addr netip.Addr) (time.Duration, error)
}

// disruptionCases are the events of a node's life that change a prefix's
// next-hop set, each with its mitigation on and off.
func disruptionCases() []disruptionCase {
	restart := func(ctx context.Context, l *lab.Lab, victim *lab.Node, _ *corev1.Service, addr netip.Addr) (time.Duration, error) {
		start := time.Now()
		l.StopSpeaker(victim, syscall.SIGTERM)
		if err := until(30*time.Second, "the session to "+victim.Name+" ends", func() bool {
			up, err := l.Router.Established()
			return err == nil && !slices.Contains(up, victim.Addr4.String())
		}); err != nil {
			return 0, err
		}
		if err := l.StartSpeaker(victim); err != nil {
			return 0, err
		}
		if err := until(60*time.Second, "the session to "+victim.Name+" comes back", func() bool {
			up, err := l.Router.Established()
			return err == nil && slices.Contains(up, victim.Addr4.String())
		}); err != nil {
			return 0, err
		}
		if err := untilHops(l, addr, 3, 60*time.Second); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	crash := func(ctx context.Context, l *lab.Lab, victim *lab.Node, _ *corev1.Service, addr netip.Addr) (time.Duration, error) {
		restore, err := l.CutLink(victim)
		if err != nil {
			return 0, err
		}
		defer restore()
		start := time.Now()
		l.StopSpeaker(victim, syscall.SIGKILL)
		if err := untilHops(l, addr, 2, 60*time.Second); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	drain := func(ctx context.Context, l *lab.Lab, victim *lab.Node, _ *corev1.Service, addr netip.Addr) (time.Duration, error) {
		start := time.Now()
		if err := setNodeMeta(ctx, l, victim.Name, func(n *corev1.Node) {
			if n.Annotations == nil {
				n.Annotations = map[string]string{}
			}
			n.Annotations[v1alpha1.AnnotationDrain] = "true"
		}); err != nil {
			return 0, err
		}
		if err := untilHops(l, addr, 2, 30*time.Second); err != nil {
			return 0, err
		}
		converged := time.Since(start)
		// The event ends with the withdrawal at the end of the drain
		// time; traffic is measured through it.
		frr := l.Router.(*lab.FRR)
		if err := until(time.Minute, victim.Name+"'s path is withdrawn", func() bool {
			paths, err := frr.BGPPaths(netip.PrefixFrom(addr, addr.BitLen()))
			if err != nil {
				return false
			}
			for _, p := range paths {
				if p.NextHop == victim.Addr4.String() {
					return false
				}
			}
			return true
		}); err != nil {
			return 0, err
		}
		return converged, nil
	}
	// A node leaving without a drain withdraws at once: a speaker
	// stopped without graceful restart does exactly that.
	leave := func(ctx context.Context, l *lab.Lab, victim *lab.Node, _ *corev1.Service, addr netip.Addr) (time.Duration, error) {
		start := time.Now()
		l.StopSpeaker(victim, syscall.SIGTERM)
		if err := untilHops(l, addr, 2, 30*time.Second); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	// A node joins the load balancing set: here, it comes back from
	// maintenance (the exclusion label goes), which for the router is
	// the same as a new node.
	excluded := func(ctx context.Context, l *lab.Lab, victim *lab.Node, svc *corev1.Service, addr netip.Addr) error {
		if err := setNodeMeta(ctx, l, victim.Name, func(n *corev1.Node) {
			if n.Labels == nil {
				n.Labels = map[string]string{}
			}
			n.Labels[announce.ExcludeLabel] = ""
		}); err != nil {
			return err
		}
		if err := untilHops(l, addr, 2, 30*time.Second); err != nil {
			return err
		}
		// The node is out once its drain time is over and it announces
		// nothing; until then, taking the label away is not a join.
		key := translate.ServiceKey(svc)
		return until(time.Minute, victim.Name+" announces "+key+" no more", func() bool {
			var st v1alpha1.BGPNodeStatus
			if l.Client.Get(ctx, client.ObjectKey{Name: victim.Name}, &st) != nil {
				return false
			}
			for _, s := range st.Status.Services {
				if s.Name == key {
					return false
				}
			}
			return true
		})
	}
	join := func(hold bool) func(ctx context.Context, l *lab.Lab, victim *lab.Node, _ *corev1.Service, addr netip.Addr) (time.Duration, error) {
		return func(ctx context.Context, l *lab.Lab, victim *lab.Node, svc *corev1.Service, addr netip.Addr) (time.Duration, error) {
			start := time.Now()
			if err := setNodeMeta(ctx, l, victim.Name, func(n *corev1.Node) { delete(n.Labels, announce.ExcludeLabel) }); err != nil {
				return 0, err
			}
			return settle(ctx, l, victim, svc, addr, hold, 3, start)
		}
	}
	// Speakers learn who announces from each other's status objects, which
	// trail the announcements; a node that joins before they show counts
	// as one of the first next hops, which no hold holds back. So a move
	// starts once node-0 and the victim show the Service announced.
	announced := func(ctx context.Context, l *lab.Lab, victim *lab.Node, svc *corev1.Service, _ netip.Addr) error {
		key := translate.ServiceKey(svc)
		for _, n := range []*lab.Node{l.Nodes[0], victim} {
			err := until(30*time.Second, n.Name+" shows "+key+" announced", func() bool {
				var st v1alpha1.BGPNodeStatus
				if l.Client.Get(ctx, client.ObjectKey{Name: n.Name}, &st) != nil {
					return false
				}
				for _, s := range st.Status.Services {
					if s.Name == key && s.State == v1alpha1.AnnouncementAnnounced {
						return true
					}
				}
				return false
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
	// An endpoint moves from the victim to node-2: the victim withdraws
	// and node-2 joins.
	move := func(hold bool) func(ctx context.Context, l *lab.Lab, victim *lab.Node, svc *corev1.Service, addr netip.Addr) (time.Duration, error) {
		return func(ctx context.Context, l *lab.Lab, victim *lab.Node, svc *corev1.Service, addr netip.Addr) (time.Duration, error) {
			start := time.Now()
			if _, err := l.PlacePods(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}, "node-2": {lab.Ready}}); err != nil {
				return 0, err
			}
			return settle(ctx, l, l.Nodes[2], svc, addr, hold, 2, start)
		}
	}
	return []disruptionCase{
		{event: "speaker restart (SIGTERM)", mitigation: "graceful restart", on: true, run: restart},
		{event: "speaker restart (SIGTERM)", mitigation: "graceful restart", on: false, noGR: true, run: restart},
		{event: "node crash (link cut)", mitigation: "BFD 3x100ms", on: true, bfd: true, run: crash},
		{event: "node crash (link cut)", mitigation: "BFD 3x100ms", on: false, run: crash},
		{event: "planned drain", mitigation: "graceful shutdown", on: true, run: drain},
		{event: "planned drain", mitigation: "graceful shutdown", on: false, noGR: true, run: leave},
		{event: "node join", mitigation: "addition hold", on: true, hold: true, prepare: excluded, run: join(true)},
		{event: "node join", mitigation: "addition hold", on: false, prepare: excluded, run: join(false)},
		{event: "endpoint move", mitigation: "addition hold", on: true, hold: true, local: true, prepare: announced, run: move(true)},
		{event: "endpoint move", mitigation: "addition hold", on: false, local: true, prepare: announced, run: move(false)},
	}
}

// settle waits for the end of an event that adds joiner: with a hold,
// until joiner's status shows the Service held (the router's next hops
// are then final without it); without, until the router has want next
// hops.
func settle(ctx context.Context, l *lab.Lab, joiner *lab.Node, svc *corev1.Service, addr netip.Addr, hold bool, want int, start time.Time) (time.Duration, error) {
	if !hold {
		if err := untilHops(l, addr, want, 30*time.Second); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	key := translate.ServiceKey(svc)
	var state string
	if err := until(30*time.Second, joiner.Name+" holds or announces "+key, func() bool {
		var st v1alpha1.BGPNodeStatus
		if l.Client.Get(ctx, client.ObjectKey{Name: joiner.Name}, &st) != nil {
			return false
		}
		for _, s := range st.Status.Services {
			if s.Name == key {
				state = s.State
			}
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

func runDisruption(binDir string, conns int, hashing string, c disruptionCase) (disruptionRow, error) {
	row := disruptionRow{hashing: hashing, event: c.event, mitigation: c.mitigation, on: c.on, conns: conns}
	ctx := context.Background()
	l, err := lab.Start(ctx, lab.Config{Nodes: 3, BinDir: binDir, BFD: c.bfd, RouterHashing: hashing})
	if err != nil {
		return row, err
	}
	defer l.Close()
	peer := &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router"}, Spec: v1alpha1.BGPPeerSpec{
		MyASN: lab.NodeASN, PeerASN: lab.RouterASN, PeerAddress: lab.RouterLAN4,
		HoldTime: &metav1.Duration{Duration: 9 * time.Second}, ConnectTime: &metav1.Duration{Duration: time.Second},
		DrainTime:       &metav1.Duration{Duration: 5 * time.Second},
		GracefulRestart: &v1alpha1.GracefulRestart{Enabled: ptr.To(!c.noGR)}}}
	adv := &v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}
	if c.hold {
		adv.Spec.AdditionHold = &v1alpha1.AdditionHold{MinDelay: &metav1.Duration{Duration: time.Hour}}
	}
	objs := []client.Object{
		&v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: v1alpha1.IPPoolSpec{Addresses: []v1alpha1.AddressRange{"203.0.113.0/24"}}},
		adv,
	}
	if c.bfd {
		objs = append(objs, &v1alpha1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, Spec: v1alpha1.BFDProfileSpec{
			ReceiveInterval: ptr.To[int32](100), TransmitInterval: ptr.To[int32](100), DetectMultiplier: ptr.To[int32](3)}})
		peer.Spec.BFDProfile = "fast"
	}
	objs = append(objs, peer)
	for _, o := range objs {
		if err := l.Client.Create(ctx, o); err != nil {
			return row, err
		}
	}
	svc := service("disrupted")
	svc.Spec.AllocateLoadBalancerNodePorts = nil
	endpoints := map[string][]lab.EndpointState{"node-0": {lab.Ready}}
	hops := 3
	if c.local {
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		endpoints["node-1"] = []lab.EndpointState{lab.Ready}
		hops = 2
	}
	if err := l.Client.Create(ctx, svc); err != nil {
		return row, err
	}
	if err := l.SetEndpoints(ctx, svc, endpoints); err != nil {
		return row, err
	}
	var addr netip.Addr
	if err := until(60*time.Second, "the Service gets an address", func() bool {
		var s corev1.Service
		if l.Client.Get(ctx, client.ObjectKeyFromObject(svc), &s) == nil && len(s.Status.LoadBalancer.Ingress) > 0 {
			addr, _ = netip.ParseAddr(s.Status.LoadBalancer.Ingress[0].IP)
		}
		return addr.IsValid()
	}); err != nil {
		return row, err
	}
	if err := untilHops(l, addr, hops, 60*time.Second); err != nil {
		return row, err
	}
	victim := l.Nodes[1]
	if c.bfd {
		frr := l.Router.(*lab.FRR)
		if err := until(30*time.Second, "three BFD sessions are up", func() bool {
			peers, err := frr.BFDPeers()
			up := 0
			for _, p := range peers {
				if p.Status == "up" {
					up++
				}
			}
			return err == nil && up == 3
		}); err != nil {
			return row, err
		}
	}
	if c.prepare != nil {
		if err := c.prepare(ctx, l, victim, svc, addr); err != nil {
			return row, err
		}
	}
	d, err := l.StartDisruption(ctx, lab.DisruptionConfig{Addr: addr, Conns: conns})
	if err != nil {
		return row, err
	}
	defer d.Stop()
	row.converged, err = c.run(ctx, l, victim, svc, addr)
	if errors.Is(err, errNotHeld) {
		row.notHeld = true
	} else if err != nil {
		return row, err
	}
	// Traffic goes on for two seconds after convergence, counted by the
	// probe rather than the clock.
	want := d.Progress().ProbeAttempts + int(2*time.Second/lab.DefaultDisruptionProbeEvery)
	if err := until(time.Minute, "the probe runs two seconds more", func() bool { return d.Progress().ProbeAttempts >= want }); err != nil {
		return row, err
	}
	r := d.Stop()
	row.broken, row.failed, row.attempts = r.Broken(), r.Probe.Failures, r.Probe.Attempts
	row.reset, row.hung = r.Total.Reset, r.Total.Hung
	return row, nil
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
