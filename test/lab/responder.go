package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// ResponderPort is where every pod's responder listens; each port of a
// lab Service reaches it.
const ResponderPort = 80

// Answer is what a responder says first on every connection: which node
// received the connection from the router, which pod on which node served
// it, and the source address the pod saw.
type Answer struct {
	// Node is the node the router sent the connection to.
	Node string
	// Pod is the serving pod, as namespace/name, and PodNode its node.
	Pod, PodNode string
	// Source is the connection's source address as the pod saw it: the
	// client's when kube-proxy kept it (externalTrafficPolicy Local), a
	// node's when kube-proxy masqueraded.
	Source netip.Addr
}

// String is the greeting line, without its newline.
func (a Answer) String() string {
	return fmt.Sprintf("node=%s pod=%s pod-node=%s source=%s", a.Node, a.Pod, a.PodNode, a.Source)
}

// ParseAnswer reads a greeting line (with or without its newline).
func ParseAnswer(line string) (Answer, error) {
	var a Answer
	fields := strings.Fields(line)
	if len(fields) != 4 {
		return Answer{}, fmt.Errorf("greeting %q: want 4 fields, node= pod= pod-node= source=", line)
	}
	for i, key := range []string{"node", "pod", "pod-node", "source"} {
		value, ok := strings.CutPrefix(fields[i], key+"=")
		if !ok || value == "" {
			return Answer{}, fmt.Errorf("greeting %q: field %d is not %s=...", line, i+1, key)
		}
		switch key {
		case "node":
			a.Node = value
		case "pod":
			a.Pod = value
		case "pod-node":
			a.PodNode = value
		case "source":
			addr, err := netip.ParseAddr(value)
			if err != nil {
				return Answer{}, fmt.Errorf("greeting %q: source: %w", line, err)
			}
			a.Source = addr
		}
	}
	return a, nil
}

// maxGreetingLen bounds the greeting line a responder sends.
const maxGreetingLen = 256

// startResponder opens, inside the pod's namespace, a listener that
// answers every connection with its Answer and then echoes what it
// receives.
func (l *Lab) startResponder(p *Pod) error {
	err := inNetns(p.netns, func() error {
		var err error
		p.listener, err = net.Listen("tcp", fmt.Sprintf("[::]:%d", ResponderPort))
		return err
	})
	if err != nil {
		return fmt.Errorf("responder: %w", err)
	}
	go func() {
		for {
			c, err := p.listener.Accept()
			if err != nil {
				return
			}
			go l.respond(p, c)
		}
	}()
	return nil
}

func (l *Lab) respond(p *Pod, c net.Conn) {
	defer c.Close()
	if !p.track(c) {
		return
	}
	defer p.untrack(c)
	source := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	a := Answer{Node: l.receivingNode(p, source), Pod: p.Key().String(), PodNode: p.Node.Name, Source: source}
	if _, err := c.Write([]byte(a.String() + "\n")); err != nil {
		return
	}
	buf := make([]byte, 4096)
	for {
		k, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:k]); err != nil {
			return
		}
	}
}

// receivingNode tells, from the source address a pod sees, which node the
// router sent the connection to. A node that masquerades towards a pod
// uses its address on the way there: its LAN address towards another
// node's pod, its pod gateway towards its own. A source that is no node's
// was not masqueraded, which kube-proxy does only for a connection it
// delivers to a pod on the node that received it.
func (l *Lab) receivingNode(p *Pod, source netip.Addr) string {
	for _, n := range l.Nodes {
		switch source {
		case n.Addr4, n.Addr6, podGateway(n.PodCIDR4), podGateway(n.PodCIDR6):
			return n.Name
		}
	}
	return p.Node.Name
}

// Dial opens a TCP connection from the client namespace.
func (l *Lab) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	var c net.Conn
	err := inNetns(l.ClientNS, func() error {
		var err error
		d := net.Dialer{Timeout: 2 * time.Second}
		c, err = d.DialContext(ctx, "tcp", addr.String())
		return err
	})
	return c, err
}

// Ask opens one connection to addr's ResponderPort and returns the
// responder's answer.
func (l *Lab) Ask(ctx context.Context, addr netip.Addr) (Answer, error) {
	c, err := l.Dial(ctx, netip.AddrPortFrom(addr, ResponderPort))
	if err != nil {
		return Answer{}, err
	}
	defer c.Close()
	a, err := readAnswer(c, time.Now().Add(2*time.Second))
	if err != nil {
		return Answer{}, fmt.Errorf("%s: %w", addr, err)
	}
	return a, nil
}

// WhoServes opens one connection to addr and returns the name of the node
// the router sent it to.
func (l *Lab) WhoServes(ctx context.Context, addr netip.Addr) (string, error) {
	a, err := l.Ask(ctx, addr)
	return a.Node, err
}

// readGreeting reads the line a responder sends first. It reads no
// further than the newline, so no echo is consumed with it.
func readGreeting(c net.Conn, deadline time.Time) (string, error) {
	if err := c.SetReadDeadline(deadline); err != nil {
		return "", fmt.Errorf("set read deadline: %w", err)
	}
	var buf [maxGreetingLen]byte
	n := 0
	for {
		k, err := c.Read(buf[n:])
		n += k
		if i := slices.Index(buf[:n], '\n'); i >= 0 {
			if i != n-1 {
				return "", fmt.Errorf("unexpected bytes after the greeting %q", buf[:n])
			}
			return string(buf[:i]), nil
		}
		if err != nil {
			return "", fmt.Errorf("read the greeting (got %q): %w", buf[:n], err)
		}
		if n == len(buf) {
			return "", fmt.Errorf("no newline in the first %d bytes of the greeting", n)
		}
	}
}

// readAnswer reads and parses the greeting.
func readAnswer(c net.Conn, deadline time.Time) (Answer, error) {
	line, err := readGreeting(c, deadline)
	if err != nil {
		return Answer{}, err
	}
	return ParseAnswer(line)
}

// CloseResponderConns closes every established connection of every pod's
// responder, as a test does to start from a clean slate, and returns how
// many it closed.
func (l *Lab) CloseResponderConns() (int, error) {
	l.pods.mu.Lock()
	var netns []string
	for _, p := range l.pods.pods {
		netns = append(netns, p.netns)
	}
	l.pods.mu.Unlock()
	closed := 0
	for _, ns := range netns {
		out, err := nsRun(ns, "ss", "-K", "-t", "-n", "state", "established", fmt.Sprintf("( sport = :%d )", ResponderPort))
		if err != nil {
			return closed, fmt.Errorf("close the responder's connections: %w", err)
		}
		// ss prints a header and one line per connection it closed.
		closed += max(0, len(strings.Split(strings.TrimSpace(out), "\n"))-1)
	}
	return closed, nil
}

// track records an open connection of the pod's responder; it refuses one
// once the pod has stopped.
func (p *Pod) track(c net.Conn) bool {
	p.connsMu.Lock()
	defer p.connsMu.Unlock()
	if p.stopped {
		return false
	}
	if p.conns == nil {
		p.conns = map[net.Conn]bool{}
	}
	p.conns[c] = true
	return true
}

func (p *Pod) untrack(c net.Conn) {
	p.connsMu.Lock()
	defer p.connsMu.Unlock()
	delete(p.conns, c)
}
