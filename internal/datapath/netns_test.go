//go:build linux

package datapath

import (
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Network namespaces for the tests. Each is named after the test process
// and the test, so that parallel runs do not collide, and a run removes
// the namespaces a killed run left behind.

const netnsPrefix = "bgplb-dp-"

// newNetns creates a network namespace for the rest of the test, with its
// loopback up, and removes it when the test ends.
func newNetns(t *testing.T, role string) string {
	t.Helper()
	removeOrphanedNetns(t)
	name := fmt.Sprintf("%s%d-%08x-%s", netnsPrefix, os.Getpid(), crc32.ChecksumIEEE([]byte(t.Name())), role)
	command(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("remove network namespace %s: %v: %s", name, err, out)
		}
	})
	inNetnsCommand(t, name, "ip", "link", "set", "lo", "up")
	return name
}

// removeOrphanedNetns removes the namespaces of test processes that no
// longer run.
func removeOrphanedNetns(t *testing.T) {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, entry := range entries {
		rest, ok := strings.CutPrefix(entry.Name(), netnsPrefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			t.Logf("removing network namespace %s of a test run that is gone", entry.Name())
			_ = exec.Command("ip", "netns", "del", entry.Name()).Run()
		}
	}
}

// inNetns runs fn on a thread that has entered the namespace. Sockets,
// links and program runs started in fn belong to the namespace.
func inNetns(t *testing.T, name string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		t.Fatalf("open own network namespace: %v", err)
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatalf("open network namespace %s: %v", name, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatalf("enter network namespace %s: %v", name, err)
	}
	defer func() {
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			// Never hand a thread in the wrong namespace back to the
			// scheduler: a locked thread that is not unlocked ends with
			// its goroutine.
			runtime.LockOSThread()
			t.Errorf("return from network namespace %s: %v", name, err)
		}
	}()
	fn()
}

func inNetnsCommand(t *testing.T, name string, args ...string) {
	t.Helper()
	command(t, append([]string{"ip", "netns", "exec", name}, args...)...)
}

func command(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// activateConntrack adds an nftables rule that uses conntrack, without
// which the kernel tracks no connection in the namespace.
func activateConntrack(t *testing.T, name string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(`table inet director_test {
	chain prerouting { type filter hook prerouting priority 0; ct state new counter; }
	chain output { type filter hook output priority 0; ct state new counter; }
}
`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("activate conntrack in %s: %v: %s", name, err, out)
	}
}
