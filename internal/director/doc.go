// Package director decides, from what every node publishes, which nodes
// own the connections to each Service address of a pool with the director
// on: the node sets, their owner tables, and where each node takes
// forwarded packets. It is pure (no Kubernetes, no eBPF): the speaker
// feeds it the nodes' BGPNodeStatus objects and loads its Plan into the
// datapath. Every node computes the same Plan from the same inputs, which
// is what lets them forward by the same tables without a writer
// (docs/director.md).
package director
