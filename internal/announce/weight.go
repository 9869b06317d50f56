package announce

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// weighted is one Local Service behind a prefix, announced by one
// advertisement, with the node's ready endpoints.
type weighted struct {
	prefix  netip.Prefix
	service int
	ad      int
	ready   uint32
}

// addWeights hands each group the Local Services behind its prefix,
// sorted by Service.
func (c *computation) addWeights(weights []weighted) {
	if len(weights) == 0 {
		return
	}
	slices.SortFunc(weights, func(a, b weighted) int {
		if c := comparePrefix(a.prefix, b.prefix); c != 0 {
			return c
		}
		if c := cmp.Compare(a.service, b.service); c != 0 {
			return c
		}
		return cmp.Compare(a.ad, b.ad)
	})
	gi := 0
	for start := 0; start < len(weights); {
		end := start + 1
		for end < len(weights) && weights[end].prefix == weights[start].prefix {
			end++
		}
		for gi < len(c.groups) && comparePrefix(c.groups[gi].prefix, weights[start].prefix) < 0 {
			gi++
		}
		if gi < len(c.groups) && c.groups[gi].prefix == weights[start].prefix {
			c.groups[gi].weights = weights[start:end]
		}
		start = end
	}
}

// weightFor adds up the ready endpoints of the Local Services of g whose
// advertisement is among those announcing the path, each Service once.
func weightFor(g group, use []*active, ads []*active) uint32 {
	var total uint32
	last := -1
	for _, w := range g.weights {
		if w.service == last || !slices.Contains(use, ads[w.ad]) {
			continue
		}
		total += w.ready
		last = w.service
	}
	return total
}

// unweighted records that a weighted advertisement selects a Cluster
// Service. The warning names the first such Service by key and counts
// them, so that it reads the same on every recompute.
func (c *computation) unweighted(ad, service string) {
	u := c.clusterWeighted[ad]
	if u.count == 0 || service < u.first {
		u.first = service
	}
	u.count++
	c.clusterWeighted[ad] = u
}

// unweightedServices is what unweighted collects for one advertisement.
type unweightedServices struct {
	first string
	count int
}

func (c *computation) warnUnweighted() {
	for ad, u := range c.clusterWeighted {
		c.warnings[ad] = fmt.Errorf("weightByEndpoints applies to externalTrafficPolicy: Local Services only; %d Cluster Service(s), such as %s, are announced without weight", u.count, u.first)
	}
}

// readyOn counts the Service's ready endpoints on node or, when the
// Service has no ready endpoint anywhere (the node then announces for its
// serving ones), its serving endpoints on node.
func readyOn(svc *Service, node string) uint32 {
	var ready, serving uint32
	anyReady := false
	for _, ep := range svc.Endpoints {
		anyReady = anyReady || ep.Ready
		if ep.Node != node {
			continue
		}
		if ep.Ready {
			ready++
		}
		if ep.Serving {
			serving++
		}
	}
	if anyReady {
		return ready
	}
	return serving
}
