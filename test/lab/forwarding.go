package lab

// The router's kernel routes: which route carries a prefix's traffic, and
// how a resilient group spreads it over its next hops.

import (
	"encoding/json"
	"fmt"
	"net/netip"
)

// kernelRoute is a route as `ip -j route` shows it.
type kernelRoute struct {
	Dst      string `json:"dst"`
	NHID     uint32 `json:"nhid"`
	Protocol string `json:"protocol"`
	Metric   int    `json:"metric"`
	Gateway  string `json:"gateway"`
	Dev      string `json:"dev"`
	Nexthops []struct {
		Gateway string `json:"gateway"`
		Dev     string `json:"dev"`
		Weight  int    `json:"weight"`
	} `json:"nexthops"`
}

// members returns the route's next hops in the kernel's order.
func (r kernelRoute) members() []mirrorMember {
	if len(r.Nexthops) == 0 {
		if r.Gateway == "" && r.Dev == "" {
			return nil
		}
		return []mirrorMember{{mirrorHop{r.Gateway, r.Dev}, 1}}
	}
	var out []mirrorMember
	for _, nh := range r.Nexthops {
		out = append(out, mirrorMember{mirrorHop{nh.Gateway, nh.Dev}, max(nh.Weight, 1)})
	}
	return out
}

// readRoutes returns the routes of the main table that match filter (ip
// route show arguments), in one family.
func readRoutes(ns string, v6 bool, filter ...string) ([]kernelRoute, error) {
	args := []string{"ip", "-j"}
	if v6 {
		args = append(args, "-6")
	}
	args = append(args, "route", "show")
	out, err := nsRun(ns, append(args, filter...)...)
	if err != nil {
		return nil, err
	}
	var routes []kernelRoute
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		return nil, fmt.Errorf("parse %q: %w", out, err)
	}
	return routes, nil
}

// ForwardingRoute is the router's kernel route that carries a prefix's
// traffic.
type ForwardingRoute struct {
	Protocol string
	Metric   int
	// NHID is the route's nexthop object (0 if it has none).
	NHID uint32
	// NextHops are the route's next hops in the kernel's order, the order
	// its multipath algorithm assigns hash ranges or buckets in.
	NextHops []WeightedNextHop
}

// WeightedNextHop is one next hop of a kernel route.
type WeightedNextHop struct {
	Gateway string
	Weight  int
}

// Gateways returns the route's gateways in the kernel's order.
func (r ForwardingRoute) Gateways() []string {
	var out []string
	for _, nh := range r.NextHops {
		out = append(out, nh.Gateway)
	}
	return out
}

// ForwardingRoute returns the router's kernel route for prefix that
// carries its traffic: of the main table's routes to exactly prefix, the
// one of lowest metric (with RouterHashing Resilient, the mirror's). ok is
// false if the router has no such route.
func (l *Lab) ForwardingRoute(prefix netip.Prefix) (r ForwardingRoute, ok bool, err error) {
	ns := l.Prefix + "-router"
	kr, ok, err := forwardingRoute(ns, prefix)
	if err != nil || !ok {
		return r, ok, err
	}
	r = ForwardingRoute{Protocol: kr.Protocol, Metric: kr.Metric, NHID: kr.NHID}
	for _, mem := range kr.members() {
		r.NextHops = append(r.NextHops, WeightedNextHop{mem.Gateway, mem.Weight})
	}
	return r, true, nil
}

func forwardingRoute(ns string, prefix netip.Prefix) (kernelRoute, bool, error) {
	routes, err := readRoutes(ns, prefix.Addr().Is6(), prefix.String())
	if err != nil || len(routes) == 0 {
		return kernelRoute{}, false, err
	}
	best := routes[0]
	for _, r := range routes[1:] {
		if r.Metric < best.Metric {
			best = r
		}
	}
	return best, true, nil
}

// forwardingNextHopWeights returns the gateways of the route that carries
// prefix's traffic with their weights (1 when the kernel shows none). Only
// that route counts: with RouterHashing Resilient, FRR's own route stays
// installed below the mirror's and forwards nothing.
func forwardingNextHopWeights(ns string, prefix netip.Prefix) (map[string]int, error) {
	r, ok, err := forwardingRoute(ns, prefix)
	if err != nil {
		return nil, err
	}
	hops := map[string]int{}
	if ok {
		for _, mem := range r.members() {
			hops[mem.Gateway] = mem.Weight
		}
	}
	return hops, nil
}

// ResilientBuckets returns how many buckets of the resilient group that
// forwards prefix each gateway holds. A gateway in the group may hold
// none: with a long idle timer, a next hop added while every bucket is
// busy gets no bucket, and no traffic, until buckets go idle.
func (l *Lab) ResilientBuckets(prefix netip.Prefix) (map[string]int, error) {
	ns := l.Prefix + "-router"
	r, ok, err := forwardingRoute(ns, prefix)
	if err != nil {
		return nil, err
	}
	if !ok || r.NHID == 0 {
		return nil, fmt.Errorf("no route with a nexthop group to %s", prefix)
	}
	out, err := nsRun(ns, "ip", "-j", "nexthop", "bucket", "show", "id", fmt.Sprint(r.NHID))
	if err != nil {
		return nil, err
	}
	var buckets []struct {
		Bucket struct {
			NHID uint32 `json:"nhid"`
		} `json:"bucket"`
	}
	if err := json.Unmarshal([]byte(out), &buckets); err != nil {
		return nil, fmt.Errorf("parse %q: %w", out, err)
	}
	if len(buckets) == 0 {
		return nil, fmt.Errorf("nexthop group %d of %s is not resilient", r.NHID, prefix)
	}
	gateways := map[uint32]string{}
	counts := map[string]int{}
	for _, mem := range r.members() {
		counts[mem.Gateway] = 0
	}
	for _, b := range buckets {
		gw, ok := gateways[b.Bucket.NHID]
		if !ok {
			out, err := nsRun(ns, "ip", "-j", "nexthop", "show", "id", fmt.Sprint(b.Bucket.NHID))
			if err != nil {
				return nil, err
			}
			var nh []struct {
				Gateway string `json:"gateway"`
			}
			if err := json.Unmarshal([]byte(out), &nh); err != nil || len(nh) != 1 {
				return nil, fmt.Errorf("parse nexthop %d: %q (%v)", b.Bucket.NHID, out, err)
			}
			gw = nh[0].Gateway
			gateways[b.Bucket.NHID] = gw
		}
		counts[gw]++
	}
	return counts, nil
}
