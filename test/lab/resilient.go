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
// The mirror (resilient_mirror.go) reacts to `ip monitor route nexthop` in
// the router namespace and re-reads FRR's routes at least every
// mirrorPoll; forwarding.go reads the routes that carry the traffic.
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
	"errors"
	"fmt"
	"strconv"
	"sync"
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
	l.hashing = h
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
	if l.hashing == nil {
		return fmt.Errorf("router hashing can only be switched on a running frr router")
	}
	return l.hashing.set(mode, opts)
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

// close removes the mirror, if any; the hashing mode can no longer be
// switched afterwards.
func (h *routerHashing) close() error {
	err := h.set(HashThreshold, ResilientOptions{})
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
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
