package nodeprobe

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/bgplb/bgplb/internal/testpoll"
)

// twoHosts makes two network namespaces joined by a veth pair, with
// 10.97.0.1 and fd97::1 on the first and 10.97.0.2 and fd97::2 on the
// second, and returns their names and the second's link name.
func twoHosts(t *testing.T) (a, b string) {
	t.Helper()
	a, b = fmt.Sprintf("bgplb-probe-%d-a", os.Getpid()), fmt.Sprintf("bgplb-probe-%d-b", os.Getpid())
	for _, ns := range []string{a, b} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
		// A link going down must not take the IPv6 addresses with it.
		run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.keep_addr_on_down=1")
	}
	run(t, "ip", "-n", a, "link", "add", "pa", "type", "veth", "peer", "name", "pb", "netns", b)
	for i, ns := range []string{a, b} {
		dev := []string{"pa", "pb"}[i]
		run(t, "ip", "-n", ns, "addr", "add", fmt.Sprintf("10.97.0.%d/24", i+1), "dev", dev)
		run(t, "ip", "-n", ns, "addr", "add", fmt.Sprintf("fd97::%d/64", i+1), "dev", dev, "nodad")
		run(t, "ip", "-n", ns, "link", "set", dev, "up")
	}
	return a, b
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// runIn runs the prober with its sockets in namespace ns until the test
// ends.
func runIn(t *testing.T, p *Prober, ns string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the thread ends with the goroutine, in ns
		h, err := netns.GetFromName(ns)
		if err == nil {
			err = netns.Set(h)
			h.Close()
		}
		if err != nil {
			done <- err
			return
		}
		done <- p.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func waitFor(t *testing.T, p *Prober, what string, want map[string]bool) {
	t.Helper()
	testpoll.Until(t, 10*time.Second, what, func() (bool, string) {
		got := p.Unreachable()
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprint(got)
	})
}

func TestANodeThatStopsAnsweringIsUnreachableUntilItAnswersAgain(t *testing.T) {
	a, b := twoHosts(t)
	p := New(Options{Interval: 20 * time.Millisecond, Misses: 5})
	runIn(t, p, a)
	p.SetTargets(map[string]netip.Addr{"b4": netip.MustParseAddr("10.97.0.2"), "b6": netip.MustParseAddr("fd97::2"),
		"nobody": netip.MustParseAddr("10.97.0.99")})
	waitFor(t, p, "only the address nobody holds is unreachable", map[string]bool{"nobody": true})

	run(t, "ip", "-n", b, "link", "set", "pb", "down")
	select {
	case <-p.Changes():
	case <-time.After(10 * time.Second):
		t.Fatal("no change signalled after the link went down")
	}
	waitFor(t, p, "both addresses of the host whose link is down are unreachable", map[string]bool{"b4": true, "b6": true, "nobody": true})

	run(t, "ip", "-n", b, "link", "set", "pb", "up")
	waitFor(t, p, "the host answers again", map[string]bool{"nobody": true})

	p.SetTargets(map[string]netip.Addr{"b4": netip.MustParseAddr("10.97.0.2")})
	if got := p.Unreachable(); len(got) != 0 {
		t.Errorf("a removed target is still unreachable: %v", got)
	}
}
