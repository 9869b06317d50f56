package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Pod is a running pod of the lab: a network namespace on its node's pod
// bridge, with an address of each family from the node's pod CIDRs,
// running the responder. The lab's kubelet (kubelet.go) starts one for
// every Pod object that asks for ResponderImage on a lab node.
type Pod struct {
	Namespace, Name string
	Node            *Node
	Addr4, Addr6    netip.Addr
	// netns is the pod's network namespace; link is the node's end of
	// its veth pair, on the pod bridge.
	netns, link string
	slot        int
	listener    net.Listener
	// conns are the responder's open connections, which end with the pod
	// as they end with a container's process.
	connsMu sync.Mutex
	conns   map[net.Conn]bool
	stopped bool
	// uid is the object's the pod runs for.
	uid types.UID
}

// Key names the pod's object.
func (p *Pod) Key() types.NamespacedName {
	return types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
}

// Addr returns the pod's address of the given family.
func (p *Pod) Addr(family corev1.IPFamily) netip.Addr {
	if family == corev1.IPv6Protocol {
		return p.Addr6
	}
	return p.Addr4
}

// podRegistry holds the lab's running pods and which address slots of
// each node's pod CIDRs they use.
type podRegistry struct {
	mu   sync.Mutex
	pods map[types.NamespacedName]*Pod
	// free holds each node's released slots, next the first never used.
	free map[string][]int
	next map[string]int
	// sandboxes counts the pod namespaces ever made, to name them.
	sandboxes int
}

func newPodRegistry() *podRegistry {
	return &podRegistry{pods: map[types.NamespacedName]*Pod{}, free: map[string][]int{}, next: map[string]int{}}
}

// running returns the running pod of an object, or nil.
func (r *podRegistry) running(key types.NamespacedName) *Pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pods[key]
}

// takeSlot returns a free address slot of the node's pod CIDRs and a
// number for a new sandbox.
func (r *podRegistry) takeSlot(node string) (slot, sandbox int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sandboxes++
	if free := r.free[node]; len(free) > 0 {
		r.free[node] = free[:len(free)-1]
		return free[len(free)-1], r.sandboxes
	}
	slot = r.next[node]
	r.next[node]++
	return slot, r.sandboxes
}

func (r *podRegistry) releaseSlot(node string, slot int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.free[node] = append(r.free[node], slot)
}

// startPod makes the pod's network namespace, links it to its node's pod
// bridge with the next free addresses and starts its responder.
func (l *Lab) startPod(key types.NamespacedName, uid types.UID, n *Node) (_ *Pod, err error) {
	slot, sandbox := l.pods.takeSlot(n.Name)
	p := &Pod{Namespace: key.Namespace, Name: key.Name, Node: n, uid: uid, slot: slot, link: fmt.Sprintf("pod%d", sandbox)}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("start pod %s on %s: %w", key, n.Name, err), p.stop())
			l.pods.releaseSlot(n.Name, slot)
		}
	}()
	if p.Addr4, err = podAddress(n.PodCIDR4, slot); err != nil {
		return nil, err
	}
	if p.Addr6, err = podAddress(n.PodCIDR6, slot); err != nil {
		return nil, err
	}
	netns := fmt.Sprintf("%s-p%d", l.Prefix, sandbox)
	if err := ip("", "netns", "add", netns); err != nil {
		return nil, err
	}
	p.netns = netns
	if err := ipBatch(n.NS, [][]string{
		{"link", "add", p.link, "type", "veth", "peer", "name", "eth0", "netns", p.netns},
		{"link", "set", p.link, "master", podBridge, "up"},
	}); err != nil {
		return nil, err
	}
	if err := ipBatch(p.netns, [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", netip.PrefixFrom(p.Addr4, n.PodCIDR4.Bits()).String(), "dev", "eth0"},
		{"addr", "add", netip.PrefixFrom(p.Addr6, n.PodCIDR6.Bits()).String(), "dev", "eth0", "nodad"},
		{"link", "set", "eth0", "up"},
		{"route", "add", "default", "via", podGateway(n.PodCIDR4).String()},
		{"route", "add", "::/0", "via", podGateway(n.PodCIDR6).String()},
	}); err != nil {
		return nil, err
	}
	if err := l.startResponder(p); err != nil {
		return nil, err
	}
	l.pods.mu.Lock()
	l.pods.pods[key] = p
	l.pods.mu.Unlock()
	return p, nil
}

// stopPod stops a running pod and frees its addresses.
func (l *Lab) stopPod(key types.NamespacedName) error {
	l.pods.mu.Lock()
	p := l.pods.pods[key]
	delete(l.pods.pods, key)
	l.pods.mu.Unlock()
	if p == nil {
		return nil
	}
	err := p.stop()
	l.pods.releaseSlot(p.Node.Name, p.slot)
	return err
}

// stop ends the pod's responder and its connections, and removes its
// namespace, which takes its link off the node's bridge once nothing
// holds the namespace any more.
func (p *Pod) stop() error {
	if p.listener != nil {
		_ = p.listener.Close()
	}
	p.connsMu.Lock()
	p.stopped = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.connsMu.Unlock()
	if p.netns == "" {
		return nil
	}
	if err := ip("", "netns", "del", p.netns); err != nil {
		return fmt.Errorf("remove pod %s: %w", p.Key(), err)
	}
	return nil
}

// stopPods stops every pod; their objects go with the API server.
func (l *Lab) stopPods() error {
	l.pods.mu.Lock()
	pods := l.pods.pods
	l.pods.pods = map[types.NamespacedName]*Pod{}
	l.pods.mu.Unlock()
	var errs []error
	for _, p := range pods {
		errs = append(errs, p.stop())
	}
	return errors.Join(errs...)
}

// node returns the lab node of that name, or nil.
func (l *Lab) node(name string) *Node {
	for _, n := range l.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}
