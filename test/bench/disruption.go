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
	"github.com/bgplb/bgplb/test/lab"
)

// disruptionCase is one event measured with a mitigation on or off.
type disruptionCase struct {
	event, mitigation string
	on                bool
	// bfd runs BFD; noGR turns graceful restart off (it is on otherwise).
	bfd, noGR bool
	// event runs the event on the victim and returns when the router has
	// converged: its kernel next hops are final.
	run func(ctx context.Context, l *lab.Lab, victim *lab.Node, addr netip.Addr) (time.Duration, error)
}

// disruptionCases are the events of a node's life that change a prefix's
// next-hop set, each with its mitigation on and off.
func disruptionCases() []disruptionCase {
	restart := func(ctx context.Context, l *lab.Lab, victim *lab.Node, addr netip.Addr) (time.Duration, error) {
		start := time.Now()
		l.StopSpeaker(victim, syscall.SIGTERM)
		if err := until(30*time.Second, func() bool {
			up, err := l.Router.Established()
			return err == nil && !slices.Contains(up, victim.Addr4.String())
		}); err != nil {
			return 0, fmt.Errorf("session to %s did not end: %w", victim.Name, err)
		}
		if err := l.StartSpeaker(victim); err != nil {
			return 0, err
		}
		if err := until(60*time.Second, func() bool {
			up, err := l.Router.Established()
			return err == nil && slices.Contains(up, victim.Addr4.String())
		}); err != nil {
			return 0, fmt.Errorf("session to %s did not come back: %w", victim.Name, err)
		}
		if err := untilHops(l, addr, 3, 60*time.Second); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	crash := func(ctx context.Context, l *lab.Lab, victim *lab.Node, addr netip.Addr) (time.Duration, error) {
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
	drain := func(ctx context.Context, l *lab.Lab, victim *lab.Node, addr netip.Addr) (time.Duration, error) {
		var n corev1.Node
		if err := l.Client.Get(ctx, client.ObjectKey{Name: victim.Name}, &n); err != nil {
			return 0, err
		}
		patch := client.MergeFrom(n.DeepCopy())
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		n.Annotations[v1alpha1.AnnotationDrain] = "true"
		start := time.Now()
		if err := l.Client.Patch(ctx, &n, patch); err != nil {
			return 0, err
		}
		if err := untilHops(l, addr, 2, 30*time.Second); err != nil {
			return 0, err
		}
		converged := time.Since(start)
		// The event ends with the withdrawal at the end of the drain
		// time; traffic is measured through it.
		frr := l.Router.(*lab.FRR)
		if err := until(time.Minute, func() bool {
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
			return 0, fmt.Errorf("%s's path was never withdrawn: %w", victim.Name, err)
		}
		return converged, nil
	}
	// A node leaving without a drain withdraws at once: a speaker
	// stopped without graceful restart does exactly that.
	leave := func(ctx context.Context, l *lab.Lab, victim *lab.Node, addr netip.Addr) (time.Duration, error) {
		start := time.Now()
		l.StopSpeaker(victim, syscall.SIGTERM)
		if err := untilHops(l, addr, 2, 30*time.Second); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	return []disruptionCase{
		{event: "speaker restart (SIGTERM)", mitigation: "graceful restart", on: true, run: restart},
		{event: "speaker restart (SIGTERM)", mitigation: "graceful restart", on: false, noGR: true, run: restart},
		{event: "node crash (link cut)", mitigation: "BFD 3x100ms", on: true, bfd: true, run: crash},
		{event: "node crash (link cut)", mitigation: "BFD 3x100ms", on: false, run: crash},
		{event: "planned drain", mitigation: "graceful shutdown", on: true, run: drain},
		{event: "planned drain", mitigation: "graceful shutdown", on: false, noGR: true, run: leave},
	}
}

// disruptionReport runs every case in a lab of its own and prints a table.
func disruptionReport(binDir string, conns int) error {
	fmt.Printf("\nconnection disruption through the FRR router, %d busy connections per run:\n", conns)
	fmt.Printf("  %-26s %-18s %-4s %8s %12s %11s\n", "event", "mitigation", "", "broken", "failed new", "converged")
	for _, c := range disruptionCases() {
		broken, failed, attempts, converged, err := runDisruption(binDir, conns, c)
		if err != nil {
			return fmt.Errorf("%s, %s %v: %w", c.event, c.mitigation, c.on, err)
		}
		state := "off"
		if c.on {
			state = "on"
		}
		fmt.Printf("  %-26s %-18s %-4s %8s %12s %10.2fs\n", c.event, c.mitigation, state,
			fmt.Sprintf("%d/%d", broken, conns), fmt.Sprintf("%d/%d", failed, attempts), converged.Seconds())
	}
	fmt.Println("  (converged: until the router's kernel next hops were final; for a restart, until the node's session")
	fmt.Println("   was back and the kernel had all three next hops; broken and failed counts include the whole event)")
	return nil
}

func runDisruption(binDir string, conns int, c disruptionCase) (broken, failed, attempts int, converged time.Duration, err error) {
	ctx := context.Background()
	l, err := lab.Start(ctx, lab.Config{Nodes: 3, BinDir: binDir, BFD: c.bfd})
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer l.Close()
	peer := &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router"}, Spec: v1alpha1.BGPPeerSpec{
		MyASN: lab.NodeASN, PeerASN: lab.RouterASN, PeerAddress: lab.RouterLAN4,
		HoldTime: &metav1.Duration{Duration: 9 * time.Second}, ConnectTime: &metav1.Duration{Duration: time.Second},
		DrainTime:       &metav1.Duration{Duration: 5 * time.Second},
		GracefulRestart: &v1alpha1.GracefulRestart{Enabled: ptr.To(!c.noGR)}}}
	objs := []client.Object{
		&v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: v1alpha1.IPPoolSpec{Addresses: []v1alpha1.AddressRange{"203.0.113.0/24"}}},
		&v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "bench"}},
	}
	if c.bfd {
		objs = append(objs, &v1alpha1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, Spec: v1alpha1.BFDProfileSpec{
			ReceiveInterval: ptr.To[int32](100), TransmitInterval: ptr.To[int32](100), DetectMultiplier: ptr.To[int32](3)}})
		peer.Spec.BFDProfile = "fast"
	}
	objs = append(objs, peer)
	for _, o := range objs {
		if err := l.Client.Create(ctx, o); err != nil {
			return 0, 0, 0, 0, err
		}
	}
	svc := service("disrupted")
	svc.Spec.AllocateLoadBalancerNodePorts = nil
	if err := l.Client.Create(ctx, svc); err != nil {
		return 0, 0, 0, 0, err
	}
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}}); err != nil {
		return 0, 0, 0, 0, err
	}
	var addr netip.Addr
	if err := until(60*time.Second, func() bool {
		var s corev1.Service
		if l.Client.Get(ctx, client.ObjectKeyFromObject(svc), &s) == nil && len(s.Status.LoadBalancer.Ingress) > 0 {
			addr, _ = netip.ParseAddr(s.Status.LoadBalancer.Ingress[0].IP)
		}
		return addr.IsValid()
	}); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("no address: %w", err)
	}
	if err := untilHops(l, addr, 3, 60*time.Second); err != nil {
		return 0, 0, 0, 0, err
	}
	if c.bfd {
		frr := l.Router.(*lab.FRR)
		if err := until(30*time.Second, func() bool {
			peers, err := frr.BFDPeers()
			up := 0
			for _, p := range peers {
				if p.Status == "up" {
					up++
				}
			}
			return err == nil && up == 3
		}); err != nil {
			return 0, 0, 0, 0, fmt.Errorf("BFD not up: %w", err)
		}
	}
	d, err := l.StartDisruption(ctx, lab.DisruptionConfig{Addr: addr, Conns: conns})
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer d.Stop()
	converged, err = c.run(ctx, l, l.Nodes[1], addr)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	// Traffic goes on for two seconds after convergence, counted by the
	// probe rather than the clock.
	want := d.Progress().ProbeAttempts + int(2*time.Second/lab.DefaultDisruptionProbeEvery)
	if err := until(time.Minute, func() bool { return d.Progress().ProbeAttempts >= want }); err != nil {
		return 0, 0, 0, 0, err
	}
	r := d.Stop()
	return r.Broken(), r.Probe.Failures, r.Probe.Attempts, converged, nil
}

func untilHops(l *lab.Lab, addr netip.Addr, n int, timeout time.Duration) error {
	err := until(timeout, func() bool {
		hops, err := l.Router.KernelNextHops(netip.PrefixFrom(addr, addr.BitLen()))
		return err == nil && len(hops) == n
	})
	if err != nil {
		return fmt.Errorf("router kernel route for %s never had %d next hops: %w", addr, n, err)
	}
	return nil
}

// until polls cond every 10 ms until it holds or timeout passes.
func until(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
