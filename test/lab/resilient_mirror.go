package lab

// The resilient mirror: a copy of each of FRR's BGP routes through a
// resilient nexthop group of the lab's own (see resilient.go).

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// mirrorHop is one next hop of a route: a gateway on a device.
type mirrorHop struct {
	Gateway string
	Dev     string
}

// mirrorMember is one member of a route's next hops, with its weight.
type mirrorMember struct {
	mirrorHop
	Weight int
}

// mirrorHopObj is the mirror's nexthop object for one next hop, shared by
// every group that has it.
type mirrorHopObj struct {
	id   uint32
	refs int
}

// mirroredRoute is one route the mirror has installed.
type mirroredRoute struct {
	dst     string
	v6      bool
	group   uint32
	members []mirrorMember
}

// resilientMirror keeps a resilient copy of each of FRR's BGP routes.
type resilientMirror struct {
	ns        string
	groupArgs []string
	logf      func(format string, args ...any)

	// Only the sync goroutine uses these after start.
	nextID uint32
	hops   map[mirrorHop]*mirrorHopObj
	routes map[string]*mirroredRoute

	monitor  *exec.Cmd
	kick     chan struct{}
	stopCh   chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// start syncs once, so routes FRR already has are mirrored when the lab
// is handed out, then keeps following FRR.
func (m *resilientMirror) start() error {
	// The monitor starts first, so no change between the first sync and
	// the monitor goes unnoticed.
	cmd := exec.Command("ip", "-n", m.ns, "monitor", "route", "nexthop")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout = kicker(m.kick)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start ip monitor: %w", err)
	}
	m.monitor = cmd
	if err := m.sync(); err != nil {
		_ = m.cleanup()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("first resilient mirror sync: %w", err)
	}
	go m.loop()
	return nil
}

// kicker is a writer that, whatever is written, asks the sync loop for one
// more sync; kicks that arrive while one is pending merge into it.
type kicker chan struct{}

func (k kicker) Write(p []byte) (int, error) {
	select {
	case k <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (m *resilientMirror) loop() {
	syncLoop("resilient mirror in "+m.ns, m.sync, m.logf, m.kick, mirrorPoll, m.stopCh, m.done)
}

// stop ends the mirror and removes everything it installed. It is safe to
// call more than once.
func (m *resilientMirror) stop() error {
	m.stopOnce.Do(func() {
		close(m.stopCh)
		<-m.done
		_ = m.monitor.Process.Kill()
		_ = m.monitor.Wait()
		m.stopErr = m.cleanup()
	})
	return m.stopErr
}

// cleanup removes every route, group and nexthop of the mirror.
func (m *resilientMirror) cleanup() error {
	var errs []error
	for key, r := range m.routes {
		if err := m.remove(key, r); err != nil {
			errs = append(errs, err)
		}
	}
	for hop, obj := range m.hops {
		if err := ip(m.ns, "nexthop", "del", "id", fmt.Sprint(obj.id)); err != nil {
			errs = append(errs, err)
		}
		delete(m.hops, hop)
	}
	return errors.Join(errs...)
}

// sync makes the mirror's routes match FRR's BGP routes.
func (m *resilientMirror) sync() error {
	want := map[string]kernelRoute{}
	for _, v6 := range []bool{false, true} {
		routes, err := readRoutes(m.ns, v6, "proto", "bgp")
		if err != nil {
			return err
		}
		for _, r := range routes {
			if len(r.members()) == 0 {
				continue
			}
			want[routeKey(v6, r.Dst)] = r
		}
	}
	var errs []error
	for key, r := range want {
		if err := m.apply(key, strings.HasPrefix(key, "6 "), r); err != nil {
			errs = append(errs, err)
		}
	}
	for key, r := range m.routes {
		if _, ok := want[key]; !ok {
			if err := m.remove(key, r); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func routeKey(v6 bool, dst string) string {
	if v6 {
		return "6 " + dst
	}
	return "4 " + dst
}

// apply installs or updates the mirror of one FRR route.
func (m *resilientMirror) apply(key string, v6 bool, frr kernelRoute) error {
	members := frr.members()
	if frr.Metric <= mirrorMetric {
		return fmt.Errorf("FRR's route to %s has metric %d; the mirror's %d would not take precedence", frr.Dst, frr.Metric, mirrorMetric)
	}
	r := m.routes[key]
	if r != nil && slices.Equal(r.members, members) {
		return nil
	}
	// New nexthop objects first, so the group can name them.
	spec, err := m.groupSpec(members)
	if err != nil {
		return err
	}
	if r == nil {
		r = &mirroredRoute{dst: frr.Dst, v6: v6, group: m.newID()}
		args := append([]string{"nexthop", "add", "id", fmt.Sprint(r.group), "group", spec}, m.groupArgs...)
		if err := ip(m.ns, append(args, "proto", mirrorProto)...); err != nil {
			m.release(members)
			return err
		}
		if err := ip(m.ns, r.routeArgs("replace")...); err != nil {
			_ = ip(m.ns, "nexthop", "del", "id", fmt.Sprint(r.group))
			m.release(members)
			return err
		}
		r.members = members
		m.routes[key] = r
		return nil
	}
	// Replacing in place keeps the group, so the kernel's resilient bucket
	// logic decides which buckets move; the idle and unbalanced timers
	// stay as they were set.
	if err := ip(m.ns, "nexthop", "replace", "id", fmt.Sprint(r.group), "group", spec, "type", "resilient", "proto", mirrorProto); err != nil {
		m.release(members)
		return err
	}
	m.release(r.members)
	r.members = members
	return nil
}

// remove deletes the mirror of one route: route, group, unused nexthops.
func (m *resilientMirror) remove(key string, r *mirroredRoute) error {
	routeErr := ip(m.ns, r.routeArgs("del")...)
	// Deleting the group would also take a route still using it along.
	if err := ip(m.ns, "nexthop", "del", "id", fmt.Sprint(r.group)); err != nil {
		return errors.Join(routeErr, err)
	}
	m.release(r.members)
	delete(m.routes, key)
	return nil
}

// routeArgs are the ip arguments that install or delete the route; the
// protocol and metric make sure a delete never hits FRR's route.
func (r *mirroredRoute) routeArgs(verb string) []string {
	var args []string
	if r.v6 {
		args = append(args, "-6")
	}
	return append(args, "route", verb, r.dst, "nhid", fmt.Sprint(r.group), "proto", mirrorProto, "metric", strconv.Itoa(mirrorMetric))
}

// groupSpec returns the group argument of `ip nexthop` for members, taking
// a reference on each member's nexthop object (creating it if needed).
func (m *resilientMirror) groupSpec(members []mirrorMember) (string, error) {
	var parts []string
	for i, mem := range members {
		obj := m.hops[mem.mirrorHop]
		if obj == nil {
			obj = &mirrorHopObj{id: m.newID()}
			args := []string{"nexthop", "add", "id", fmt.Sprint(obj.id)}
			if mem.Gateway != "" {
				args = append(args, "via", mem.Gateway)
			}
			if err := ip(m.ns, append(args, "dev", mem.Dev, "proto", mirrorProto)...); err != nil {
				m.release(members[:i])
				return "", err
			}
			m.hops[mem.mirrorHop] = obj
		}
		obj.refs++
		part := fmt.Sprint(obj.id)
		if mem.Weight > 1 {
			part += "," + strconv.Itoa(mem.Weight)
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "/"), nil
}

// release drops a reference on each member's nexthop object and deletes
// the objects no group uses any more.
func (m *resilientMirror) release(members []mirrorMember) {
	for _, mem := range members {
		obj := m.hops[mem.mirrorHop]
		if obj == nil {
			continue
		}
		if obj.refs--; obj.refs <= 0 {
			if err := ip(m.ns, "nexthop", "del", "id", fmt.Sprint(obj.id)); err != nil {
				m.logf("resilient mirror in %s: %v", m.ns, err)
				continue
			}
			delete(m.hops, mem.mirrorHop)
		}
	}
}

func (m *resilientMirror) newID() uint32 {
	id := m.nextID
	m.nextID++
	return id
}
