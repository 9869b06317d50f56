package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/testpoll"
	"github.com/bgplb/bgplb/test/lab"
)

// With weightByEndpoints, a Local Service with three endpoints on one node
// and one on another gets kernel next-hop weights 3:1 at the router, and
// the heavier node takes about three quarters of new connections; without
// it, about half.
func TestWeightedNextHopsFollowReadyEndpoints(t *testing.T) {
	l := startLab(t, 3)
	configure(t, l, v1alpha1.BGPAdvertisementSpec{WeightByEndpoints: true})
	ctx := context.Background()
	frr := l.Router.(*lab.FRR)
	svc := createService(t, l, "weighted", true)
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{
		"node-0": {lab.Ready, lab.Ready, lab.Ready}, "node-1": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addr := serviceAddrs(t, l, svc, 1)[0]
	heavy, light := l.Nodes[0].Addr4.String(), l.Nodes[1].Addr4.String()
	testpoll.Until(t, 30*time.Second, "kernel next-hop weights 3:1", func() (bool, string) {
		w, err := frr.KernelNextHopWeights(hostPrefix(addr))
		if err != nil || len(w) != 2 || w[light] == 0 {
			return false, fmt.Sprint(w, err)
		}
		ratio := float64(w[heavy]) / float64(w[light])
		return ratio > 2.7 && ratio < 3.3, fmt.Sprint(w)
	})
	share := heavyShare(t, l, addr)
	t.Logf("weighted: node-0 took %.1f%% of 1000 connections", 100*share)
	if share < 0.65 || share > 0.85 {
		t.Errorf("weighted: node-0 (3 endpoints) took %.1f%% of connections, want 65-85%%", 100*share)
	}

	var adv v1alpha1.BGPAdvertisement
	if err := l.Client.Get(ctx, client.ObjectKey{Name: "lab"}, &adv); err != nil {
		t.Fatal(err)
	}
	adv.Spec.WeightByEndpoints = false
	if err := l.Client.Update(ctx, &adv); err != nil {
		t.Fatal(err)
	}
	testpoll.Until(t, 30*time.Second, "equal kernel next-hop weights", func() (bool, string) {
		w, err := frr.KernelNextHopWeights(hostPrefix(addr))
		return err == nil && len(w) == 2 && w[heavy] == w[light], fmt.Sprint(w, err)
	})
	share = heavyShare(t, l, addr)
	t.Logf("unweighted: node-0 took %.1f%% of 1000 connections", 100*share)
	if share < 0.40 || share > 0.60 {
		t.Errorf("unweighted: node-0 took %.1f%% of connections, want near 50%%", 100*share)
	}
}

// heavyShare opens 1,000 connections to addr and returns node-0's share.
func heavyShare(t *testing.T, l *lab.Lab, addr netip.Addr) float64 {
	t.Helper()
	d := startDisruption(t, l, addr, 1000)
	bound := d.Bound()
	d.Stop()
	total := 0
	for _, n := range bound {
		total += n
	}
	return float64(bound["node-0"]) / float64(total)
}
