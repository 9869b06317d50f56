package speaker

import (
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
)

// nodeFromAPI returns the node as the announce rules see it, and what asks
// it to drain apart from a cordon: v1alpha1.DrainReasonAnnotation or
// DrainReasonExcludeLabel, or "" if nothing does. A cordon drains only
// together with an advertisement, so the caller decides about it.
func nodeFromAPI(n *corev1.Node) (announce.Node, string) {
	node := announce.Node{Name: n.Name, Labels: n.Labels, Cordoned: n.Spec.Unschedulable}
	var reason string
	if _, annotated := n.Annotations[v1alpha1.AnnotationDrain]; annotated {
		reason = v1alpha1.DrainReasonAnnotation
	} else if _, excluded := n.Labels[announce.ExcludeLabel]; excluded {
		reason = v1alpha1.DrainReasonExcludeLabel
	}
	node.Drain = reason != ""
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeNetworkUnavailable && c.Status == corev1.ConditionTrue {
			node.NetworkUnavailable = true
		}
	}
	return node, reason
}

// nodeAddresses returns the node's first internal address of each family,
// used as next hop and as default router ID.
func nodeAddresses(n *corev1.Node) (v4, v6 netip.Addr) {
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		addr, err := netip.ParseAddr(a.Address)
		if err != nil {
			continue
		}
		switch {
		case addr.Is4() && !v4.IsValid():
			v4 = addr
		case addr.Is6() && !addr.Is4In6() && !v6.IsValid():
			v6 = addr
		}
	}
	return v4, v6
}

// serviceFromAPI returns the Service as the announce rules see it, or false
// if it has nothing to announce: not a LoadBalancer, no address yet, or
// addresses that the bgplb controller did not assign (it marks its own
// with the pool annotation), which another load balancer owns.
func serviceFromAPI(s *corev1.Service, slices []*discoveryv1.EndpointSlice) (announce.Service, bool) {
	if !announceable(s) {
		return announce.Service{}, false
	}
	svc := announce.Service{
		Key:    s.Namespace + "/" + s.Name,
		Labels: s.Labels,
		Pool:   s.Annotations[v1alpha1.AnnotationAssignedPool],
		Local:  s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal,
	}
	for _, in := range s.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil {
			svc.Addrs = append(svc.Addrs, a)
		}
	}
	// A dual-stack Service has a slice per family listing the same Pods;
	// each Pod counts once (for weights), so endpoints naming the same
	// target are merged.
	var seen map[string]bool
	for _, es := range slices {
		for _, ep := range es.Endpoints {
			if ep.NodeName == nil {
				continue
			}
			if ref := ep.TargetRef; ref != nil && (ref.UID != "" || ref.Name != "") {
				key := string(ref.UID) + "/" + ref.Namespace + "/" + ref.Name
				if seen[key] {
					continue
				}
				if seen == nil {
					seen = map[string]bool{}
				}
				seen[key] = true
			}
			// The API defines an unset condition: Ready as true, Serving
			// as Ready.
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			svc.Endpoints = append(svc.Endpoints, announce.Endpoint{
				Node:        *ep.NodeName,
				Ready:       ready,
				Serving:     (ep.Conditions.Serving == nil && ready) || (ep.Conditions.Serving != nil && *ep.Conditions.Serving),
				Terminating: ep.Conditions.Terminating != nil && *ep.Conditions.Terminating,
			})
		}
	}
	return svc, len(svc.Addrs) > 0
}

// announceable tells whether a Service may have addresses to announce: a
// LoadBalancer with addresses that the bgplb controller assigned.
func announceable(s *corev1.Service) bool {
	if s.Spec.Type != corev1.ServiceTypeLoadBalancer || len(s.Status.LoadBalancer.Ingress) == 0 {
		return false
	}
	_, ours := s.Annotations[v1alpha1.AnnotationAssignedPool]
	return ours
}

// peerFromAPI returns the rule-side and the session-side view of a peer.
// password is the TCP-MD5 key already read from the referenced Secret.
func peerFromAPI(p *v1alpha1.BGPPeer, routerID, nextHop4, nextHop6 netip.Addr, password string, bfdProfiles map[string]*v1alpha1.BFDProfile) (announce.Peer, bgp.Peer, error) {
	ap := announce.Peer{Name: p.Name, LocalASN: uint32(p.Spec.MyASN), PeerASN: uint32(p.Spec.PeerASN),
		DrainTime: duration(p.Spec.DrainTime, 30*time.Second)}
	var err error
	if ap.NodeSelectors, err = kubeutil.Matchers[announce.LabelMatcher]("spec.nodeSelectors", p.Spec.NodeSelectors); err != nil {
		return ap, bgp.Peer{}, err
	}
	addr, err := netip.ParseAddr(p.Spec.PeerAddress)
	if err != nil {
		return ap, bgp.Peer{}, fmt.Errorf("spec.peerAddress: invalid address %q", p.Spec.PeerAddress)
	}
	bp := bgp.Peer{
		Name:          p.Name,
		Address:       addr,
		Port:          uint16(p.Spec.PeerPort),
		LocalASN:      ap.LocalASN,
		PeerASN:       ap.PeerASN,
		RouterID:      routerID,
		HoldTime:      duration(p.Spec.HoldTime, 90*time.Second),
		ConnectRetry:  duration(p.Spec.ConnectTime, 10*time.Second),
		Password:      password,
		NextHopIPv4:   nextHop4,
		NextHopIPv6:   nextHop6,
		KeepaliveTime: duration(p.Spec.KeepaliveTime, 0),
	}
	if bp.KeepaliveTime == 0 {
		bp.KeepaliveTime = bp.HoldTime / 3
	}
	if p.Spec.RouterID != "" {
		if bp.RouterID, err = netip.ParseAddr(p.Spec.RouterID); err != nil {
			return ap, bp, fmt.Errorf("spec.routerID: invalid address %q", p.Spec.RouterID)
		}
	}
	if !bp.RouterID.Is4() {
		return ap, bp, fmt.Errorf("no router ID: the node has no IPv4 address and spec.routerID is empty")
	}
	if p.Spec.SourceAddress != "" {
		if bp.SourceAddress, err = netip.ParseAddr(p.Spec.SourceAddress); err != nil {
			return ap, bp, fmt.Errorf("spec.sourceAddress: invalid address %q", p.Spec.SourceAddress)
		}
	}
	if p.Spec.EBGPMultiHop != nil {
		bp.EBGPMultihopTTL = uint8(*p.Spec.EBGPMultiHop)
	}
	if gr := p.Spec.GracefulRestart; gr == nil || gr.Enabled == nil || *gr.Enabled {
		bp.GracefulRestart = bgp.GracefulRestart{Enabled: true, RestartTime: 120 * time.Second}
		if gr != nil && gr.RestartTime != nil {
			bp.GracefulRestart.RestartTime = gr.RestartTime.Duration
		}
	}
	if name := p.Spec.BFDProfile; name != "" {
		profile, ok := bfdProfiles[name]
		if !ok {
			return ap, bp, fmt.Errorf("spec.bfdProfile: BFDProfile %q not found", name)
		}
		bp.BFD = bfdFromAPI(&profile.Spec)
	}
	return ap, bp, nil
}

// bfdFromAPI applies the API's defaults to unset fields, for profiles
// written before a default existed.
func bfdFromAPI(s *v1alpha1.BFDProfileSpec) *bgp.BFD {
	ms := func(v *int32) time.Duration {
		if v == nil {
			return 300 * time.Millisecond
		}
		return time.Duration(*v) * time.Millisecond
	}
	b := &bgp.BFD{ReceiveInterval: ms(s.ReceiveInterval), TransmitInterval: ms(s.TransmitInterval), DetectMultiplier: 3}
	if s.DetectMultiplier != nil {
		b.DetectMultiplier = uint8(*s.DetectMultiplier)
	}
	return b
}

func duration(d *metav1.Duration, fallback time.Duration) time.Duration {
	if d == nil {
		return fallback
	}
	return d.Duration
}
