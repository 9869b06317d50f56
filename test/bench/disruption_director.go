package main

// The disruption report's director cases: what they need beyond the other
// cases' steps.

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/test/lab"
)

// directorDrainTimeout is how long a node that stops serving the
// Service keeps serving its connections in the director's cases: longer
// than any measurement after the event, short enough that a node excluded
// before a join has left the tables within the preparation's minute.
const directorDrainTimeout = 15 * time.Second

// moveEndpointKeepingOldPod moves the Service's endpoint from the victim
// to node-2 as a rolling update does: the victim's pod stops being ready
// but serves on, as a terminating pod does during its grace period.
func moveEndpointKeepingOldPod(ctx context.Context, t disruptionTarget) (time.Duration, error) {
	start := time.Now()
	if _, err := t.lab.PlacePods(ctx, t.svc, map[string][]lab.EndpointState{
		"node-0": {lab.Ready}, t.victim.Name: {lab.NotReady}, "node-2": {lab.Ready}}); err != nil {
		return 0, err
	}
	return settle(ctx, t, t.lab.Nodes[2], false, 2, start)
}

// untilPlansAgree waits until the nodes that are the router's next hops
// for addr, and only they, show the Service announced, and every node
// forwards by the same plan: connections opened before that can be kept
// by a node whose tables do not name the others yet.
func untilPlansAgree(ctx context.Context, l *lab.Lab, key string, addr netip.Addr) error {
	return until(30*time.Second, "every node forwards by the same plan", func() bool {
		hops, err := l.Router.KernelNextHops(netip.PrefixFrom(addr, addr.BitLen()))
		if err != nil {
			return false
		}
		digest := ""
		for i, n := range l.Nodes {
			var st v1alpha1.BGPNodeStatus
			if l.Client.Get(ctx, client.ObjectKey{Name: n.Name}, &st) != nil || st.Status.Director == nil || st.Status.Director.PlanDigest == "" {
				return false
			}
			announced := slices.Contains(st.Status.Services, v1alpha1.ServiceAnnouncement{Name: key, State: v1alpha1.AnnouncementAnnounced})
			if announced != slices.Contains(hops, n.Addr4.String()) {
				return false
			}
			if i == 0 {
				digest = st.Status.Director.PlanDigest
			} else if st.Status.Director.PlanDigest != digest {
				return false
			}
		}
		return true
	})
}

// untilDirectorReady waits until every node's status shows its director
// datapath ready, which the other nodes' tables then take in.
func untilDirectorReady(ctx context.Context, l *lab.Lab) error {
	for _, n := range l.Nodes {
		err := until(30*time.Second, n.Name+"'s director datapath is ready", func() bool {
			var st v1alpha1.BGPNodeStatus
			if l.Client.Get(ctx, client.ObjectKey{Name: n.Name}, &st) != nil {
				return false
			}
			return st.Status.Director != nil && st.Status.Director.Ready
		})
		if err != nil {
			return err
		}
	}
	return nil
}
