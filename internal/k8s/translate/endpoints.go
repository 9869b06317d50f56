package translate

import (
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bgplb/bgplb/internal/announce"
)

// Endpoint returns an endpoint's node and conditions. The API defines an
// unset condition: Ready as true, Serving as Ready, Terminating as false.
// An endpoint without a node has Node "".
func Endpoint(ep *discoveryv1.Endpoint) announce.Endpoint {
	ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
	out := announce.Endpoint{
		Ready:       ready,
		Serving:     ready,
		Terminating: ep.Conditions.Terminating != nil && *ep.Conditions.Terminating,
	}
	if ep.Conditions.Serving != nil {
		out.Serving = *ep.Conditions.Serving
	}
	if ep.NodeName != nil {
		out.Node = *ep.NodeName
	}
	return out
}

// endpointTarget is what an endpoint runs in, usually a Pod.
type endpointTarget struct {
	uid             types.UID
	namespace, name string
}

// Endpoints returns the endpoints of a Service's EndpointSlices that run
// on a node. A dual-stack Service has a slice per family listing the same
// Pods; each Pod counts once (for weights), so endpoints naming the same
// target are merged.
func Endpoints(endpointSlices []*discoveryv1.EndpointSlice) []announce.Endpoint {
	var out []announce.Endpoint
	var seen map[endpointTarget]bool
	for _, es := range endpointSlices {
		for i := range es.Endpoints {
			ep := &es.Endpoints[i]
			if ep.NodeName == nil {
				continue
			}
			if ref := ep.TargetRef; ref != nil && (ref.UID != "" || ref.Name != "") {
				target := endpointTarget{uid: ref.UID, namespace: ref.Namespace, name: ref.Name}
				if seen[target] {
					continue
				}
				if seen == nil {
					seen = map[endpointTarget]bool{}
				}
				seen[target] = true
			}
			out = append(out, Endpoint(ep))
		}
	}
	return out
}

// SlicesByService indexes EndpointSlices by the key of their Service.
func SlicesByService(items []discoveryv1.EndpointSlice) map[string][]*discoveryv1.EndpointSlice {
	out := map[string][]*discoveryv1.EndpointSlice{}
	for i := range items {
		es := &items[i]
		if name := es.Labels[discoveryv1.LabelServiceName]; name != "" {
			key := NamespacedKey(es.Namespace, name)
			out[key] = append(out[key], es)
		}
	}
	return out
}
