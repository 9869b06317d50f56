package lab

// Resilient hashing at the lab router.
//
// FRR installs a BGP multipath route as a plain kernel nexthop group, which
// the kernel spreads by hash-threshold (RFC 2992): when the set of next
// hops changes, the hash ranges of the next hops that stay shift too, so
// flows of unchanged next hops move. The kernel's resilient nexthop groups
// keep a table of buckets instead and move only the buckets they must, but
// FRR 8.4 cannot install them. With Config.RouterHashing (or
// SetRouterHashing) set to Resilient the lab mirrors every BGP route FRR
// installs in the router namespace into a resilient group of its own:
//
//   - one nexthop object per gateway and per route a resilient group of
//     them, in FRR's order and with FRR's weights. Their IDs start at
//     mirrorIDBase, far above the small numbers zebra counts up from, and
//     the mirror never uses zebra's objects: zebra deletes a nexthop it no
//     longer needs, and the kernel would drop it from the group with it;
//   - a route to the same prefix in the main table through that group,
//     with protocol mirrorProto and metric mirrorMetric. FRR installs its
//     BGP routes with protocol bgp and the administrative distance as metric
//     (20 for eBGP, 200 for iBGP); the kernel forwards by the route of
//     lowest metric, so the mirror's route carries the traffic while FRR's
//     stays installed underneath. zebra (8.4) does not take the mirror's
//     route into its RIB (`show ip route` keeps listing only the B route)
//     and keeps replacing its own route next to it as paths change;
//   - when FRR's route changes, the group's members are replaced in place
//     (`ip nexthop replace`), so the kernel's bucket logic decides which
//     flows move; when FRR's route goes away, so do the mirror's route,
//     group and unused nexthops. Everything is removed when the mode is
//     switched or the lab closes.
//
// The mirror reacts to `ip monitor route nexthop` in the router namespace
// and re-reads FRR's routes at least every mirrorPoll.
//
// What the kernel (Linux 6.18, 128 buckets, 1,000 connections each
// exchanging data every 40 ms, groups of equal weights that start
// balanced) did to established connections; these figures were taken
// before the router hashed headers (routerhash.go), when each flow's
// bucket came from its client socket's random hash, which spreads flows
// over buckets the same way but not the same flows:
//
//   - Addition with the default idle timer (120 s): none broke (0 of 1,000
//     for 2→3, 3→4, 5→6 and 7→8 next hops). The new next hop gets no
//     bucket while the buckets stay busy, so it receives no traffic at all,
//     not even new connections, until buckets have been idle for the idle
//     timer (or the unbalanced timer, 0 = never, forces migration).
//   - Addition with idle_timer 0 (the kernel accepts it; timers are whole
//     seconds): every bucket counts as idle at once, so during the replace
//     itself the kernel moves buckets from the next hops above their share
//     to the new one, and exactly the connections on those buckets break:
//     2→3 33.7% (43 of 128 buckets moved), 3→4 24.1% (32), 5→6 13.9%
//     (21), 7→8 13.0% (16).
//   - Removal, with either idle timer: the removed next hop's buckets move
//     at once to the next hops below their share, and no others, so only
//     its own connections break: 2→1 48–49%, 3→2 34%, 5→4 19–20%, 8→7
//     13% (its 64, 43, 26, 16 buckets).
//   - One exception: a group with a single next hop records no traffic on
//     its buckets (their idle time kept growing under 1,000 busy
//     connections), so the buckets moved onto it count as never used,
//     which the kernel treats as idle. Adding a second next hop then moves
//     those buckets at once even with the 120 s idle timer: from a fresh
//     one-hop group 51–52% of connections broke; after a 2→1 removal, 43%
//     (the 64 buckets the removed next hop had left).
//
// test/e2e/whatif_test.go measures these against the ecmp estimator.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Router hashing modes, for Config.RouterHashing.
const (
	// HashThreshold forwards with the routes FRR installs (the default).
	HashThreshold = "hash-threshold"
	// Resilient forwards with resilient nexthop groups that mirror FRR's
	// routes.
	Resilient = "resilient"
)

// Defaults of ResilientOptions, the kernel's own.
const (
	DefaultResilientBuckets   = 128
	DefaultResilientIdleTimer = 120 * time.Second
)

// ResilientOptions tunes the resilient nexthop groups of
// RouterHashing Resilient.
type ResilientOptions struct {
	// Buckets per group (default DefaultResilientBuckets).
	Buckets int
	// IdleTimer is how long a bucket must carry no traffic before the
	// kernel may move it to a next hop below its share: nil is the
	// kernel's default, DefaultResilientIdleTimer; zero makes every
	// bucket idle at once, so such moves happen at every change. Whole
	// seconds only.
	IdleTimer *time.Duration
	// UnbalancedTimer is how long a group may stay unbalanced before the
	// kernel moves buckets even if they are busy; zero (the default)
	// never forces. Whole seconds only.
	UnbalancedTimer time.Duration
}

const (
	// mirrorProto is the kernel route and nexthop protocol of the mirror's
	// objects; iproute2 and FRR give the number no name.
	mirrorProto = "77"
	// mirrorMetric is the metric of the mirror's routes, below FRR's
	// 20 (eBGP) and 200 (iBGP), so the mirror's route forwards.
	mirrorMetric = 10
	// mirrorIDBase is the first nexthop ID the mirror uses.
	mirrorIDBase = 3_000_000_000
	// mirrorPoll is how often the mirror re-reads FRR's routes even
	// without a monitor event.
	mirrorPoll = 500 * time.Millisecond
)

// routerHashings holds the hashing state of each running FRR router, so
// SetRouterHashing can switch it.
var routerHashings sync.Map // *FRR -> *routerHashing

// routerHashing is the hashing mode of one FRR router and, in Resilient
// mode, its mirror.
type routerHashing struct {
	mu     sync.Mutex
	frr    *FRR
	logf   func(format string, args ...any)
	mirror *resilientMirror
	// nextID is the next nexthop ID a mirror may use: a new mirror never
	// reuses an ID of an earlier one, even if that one failed to remove
	// an object.
	nextID uint32
	closed bool
}

// startRouterHashing sets up Config.RouterHashing at the router, once it
// runs.
func (l *Lab) startRouterHashing() error {
	frr, ok := l.Router.(*FRR)
	if !ok {
		if l.cfg.RouterHashing != "" && l.cfg.RouterHashing != HashThreshold {
			return fmt.Errorf("router hashing %q needs the frr router", l.cfg.RouterHashing)
		}
		return nil
	}
	h := &routerHashing{frr: frr, logf: l.logf, nextID: mirrorIDBase}
	routerHashings.Store(frr, h)
	l.onClose(h.close)
	return h.set(l.cfg.RouterHashing, l.cfg.Resilient)
}

// SetRouterHashing switches the router's hashing mode while the lab runs,
// as Config.RouterHashing and Config.Resilient would have set it. Every
// call in Resilient mode, even with the same options, replaces the
// mirror's nexthop groups by new ones whose buckets are spread evenly in
// the order of FRR's next hops, as if each route had just been installed;
// flows may move while it does, so call it with no traffic that matters.
func (l *Lab) SetRouterHashing(mode string, opts ResilientOptions) error {
	frr, _ := l.Router.(*FRR)
	h, ok := routerHashings.Load(frr)
	if !ok {
		return fmt.Errorf("router hashing can only be switched on a running frr router")
	}
	return h.(*routerHashing).set(mode, opts)
}

func (h *routerHashing) set(mode string, opts ResilientOptions) error {
	switch mode {
	case "", HashThreshold, Resilient:
	default:
		return fmt.Errorf("unknown router hashing %q (want %s or %s)", mode, HashThreshold, Resilient)
	}
	groupArgs, err := opts.groupArgs()
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("the lab is closed")
	}
	if h.mirror != nil {
		m := h.mirror
		h.mirror = nil
		err := m.stop()
		h.nextID = m.nextID
		if err != nil {
			return fmt.Errorf("remove the resilient mirror: %w", err)
		}
	}
	if mode != Resilient {
		return nil
	}
	m := &resilientMirror{
		ns:        h.frr.NS,
		groupArgs: groupArgs,
		logf:      h.logf,
		nextID:    h.nextID,
		hops:      map[mirrorHop]*mirrorHopObj{},
		routes:    map[string]*mirroredRoute{},
		kick:      make(chan struct{}, 1),
		stopCh:    make(chan struct{}),
		done:      make(chan struct{}),
	}
	err = m.start()
	h.nextID = m.nextID
	if err != nil {
		return err
	}
	h.mirror = m
	return nil
}

// close removes the mirror, if any, and forgets the router.
func (h *routerHashing) close() error {
	err := h.set(HashThreshold, ResilientOptions{})
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	routerHashings.Delete(h.frr)
	return err
}

// groupArgs are the resilient arguments of `ip nexthop add`.
func (o ResilientOptions) groupArgs() ([]string, error) {
	buckets := o.Buckets
	if buckets == 0 {
		buckets = DefaultResilientBuckets
	}
	if buckets < 1 || buckets > 65535 {
		return nil, fmt.Errorf("resilient buckets %d: want 1 to 65535", buckets)
	}
	idle := DefaultResilientIdleTimer
	if o.IdleTimer != nil {
		idle = *o.IdleTimer
	}
	args := []string{"type", "resilient", "buckets", strconv.Itoa(buckets)}
	for _, t := range []struct {
		name string
		d    time.Duration
	}{{"idle_timer", idle}, {"unbalanced_timer", o.UnbalancedTimer}} {
		if t.d < 0 || t.d%time.Second != 0 {
			return nil, fmt.Errorf("resilient %s %v: want whole seconds", t.name, t.d)
		}
		args = append(args, t.name, strconv.Itoa(int(t.d/time.Second)))
	}
	return args, nil
}

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
