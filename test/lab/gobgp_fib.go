package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// gobgpFIB installs gobgpd's multipath routes into the router namespace's
// kernel, as "proto bgp" routes with one next hop per path of the set.
//
// gobgpd has no FIB of its own: it installs routes through FRR's zebra.
// Debian 12's gobgpd (3.10) speaks zebra API 6 as FRR 8.1 does, and FRR
// 8.4's zebra (Debian 12's) differs enough that gobgpd fails to decode
// its interface messages and panics right after connecting, whatever
// software-name is configured (tried: frr8, frr8.2, frr8.4). So the lab
// plays zebra's part itself: it reads gobgpd's RIB, takes each prefix's
// multipath set by gobgpd's rule and programs the kernel. What the router
// forwards is then what gobgpd decided, installed by the lab instead of by
// zebra; the lab adds nothing of its own (no weights: gobgpd's zebra client
// sends none either).
//
// It re-reads the RIB whenever "gobgp monitor global rib" reports a change
// of a best or multipath set, and at least every gobgpFIBPoll in case the
// monitor stream ends.
type gobgpFIB struct {
	g    *GoBGP
	logf func(format string, args ...any)

	// Only the sync goroutine uses these after start.
	installed map[netip.Prefix][]string

	monitor  *exec.Cmd
	kick     chan struct{}
	stopCh   chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// gobgpFIBPoll is how often the FIB re-reads gobgpd's RIB without a
// monitor event.
const gobgpFIBPoll = time.Second

// start syncs once and then keeps following gobgpd. The monitor starts
// first, so no change between the first sync and the monitor goes
// unnoticed.
func (f *gobgpFIB) start() error {
	cmd := exec.Command("ip", "netns", "exec", f.g.NS, gobgpBin, "-u", gobgpAPIHost, "-p", gobgpAPIPort,
		"monitor", "global", "rib", "-j")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout = kicker(f.kick)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start gobgp monitor: %w", err)
	}
	if err := f.sync(); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("first sync of GoBGP's routes into the kernel: %w", err)
	}
	// From here on stop has a goroutine and a monitor to end.
	f.monitor = cmd
	go f.loop()
	return nil
}

func (f *gobgpFIB) loop() {
	syncLoop("GoBGP FIB in "+f.g.NS, f.sync, f.logf, f.kick, gobgpFIBPoll, f.stopCh, f.done)
}

// stop ends the FIB's goroutine and monitor. The routes it installed go
// with the router namespace. It is safe to call more than once.
func (f *gobgpFIB) stop() error {
	f.stopOnce.Do(func() {
		if f.monitor == nil {
			return
		}
		close(f.stopCh)
		<-f.done
		_ = f.monitor.Process.Kill()
		_ = f.monitor.Wait()
	})
	return nil
}

// sync makes the kernel's routes match gobgpd's multipath sets.
func (f *gobgpFIB) sync() error {
	want := map[netip.Prefix][]string{}
	for _, family := range []string{"ipv4", "ipv6"} {
		out, err := f.g.Gobgp("global", "rib", "-a", family, "-j")
		if err != nil {
			return err
		}
		rib, err := parseGoBGPRIB(out)
		if err != nil {
			return err
		}
		for prefix, paths := range rib {
			if hops := fibNextHops(gobgpMultipath(paths)); len(hops) > 0 {
				want[prefix] = hops
			}
		}
	}
	var errs []error
	for prefix, hops := range want {
		if slices.Equal(f.installed[prefix], hops) {
			continue
		}
		args := []string{"route", "replace", prefix.String(), "proto", "bgp"}
		for _, h := range hops {
			args = append(args, "nexthop", "via", h)
		}
		if prefix.Addr().Is6() {
			args = append([]string{"-6"}, args...)
		}
		if err := ip(f.g.NS, args...); err != nil {
			errs = append(errs, err)
			continue
		}
		f.installed[prefix] = hops
	}
	for prefix := range f.installed {
		if _, ok := want[prefix]; ok {
			continue
		}
		args := []string{"route", "del", prefix.String(), "proto", "bgp"}
		if prefix.Addr().Is6() {
			args = append([]string{"-6"}, args...)
		}
		if err := ip(f.g.NS, args...); err != nil && !strings.Contains(err.Error(), "No such process") {
			errs = append(errs, err)
			continue
		}
		delete(f.installed, prefix)
	}
	return errors.Join(errs...)
}

// fibNextHops returns the distinct next hops of a multipath set, sorted.
func fibNextHops(paths []gobgpPath) []string {
	var hops []string
	for _, p := range paths {
		if p.NextHop != "" && !slices.Contains(hops, p.NextHop) {
			hops = append(hops, p.NextHop)
		}
	}
	slices.Sort(hops)
	return hops
}
