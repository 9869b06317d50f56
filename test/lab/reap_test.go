package lab

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// leftover is what a lab leaves behind when its process dies: a node's
// namespace with a daemon in it, the root end of its veth pair, a daemon
// in the root namespace whose command line names the prefix, the lab's
// directory with the bpf filesystem of a director lab mounted in it, and
// FRR's run directory.
type leftover struct {
	prefix      string
	ns, link    string
	daemons     []*exec.Cmd
	dir, frrRun string
}

func makeLeftover(t *testing.T, prefix string) *leftover {
	t.Helper()
	lo := &leftover{prefix: prefix, ns: prefix + "-n0", link: prefix + "-n0l", frrRun: filepath.Join("/var/run/frr", prefix+"-router")}
	// Registered first, so it runs last: whatever the test leaves, goes.
	t.Cleanup(func() {
		_ = sweep(prefix, lo.dir)
		for _, d := range lo.daemons {
			_ = d.Process.Kill()
			_ = d.Wait()
		}
	})
	if err := ip("", "netns", "add", lo.ns); err != nil {
		t.Fatal(err)
	}
	if err := ip("", "link", "add", lo.link, "type", "veth", "peer", "name", "lan", "netns", lo.ns); err != nil {
		t.Fatal(err)
	}
	inNamespace := exec.Command("ip", "netns", "exec", lo.ns, "sleep", "600")
	// Its own name is what the lab's kube-apiserver or controller have
	// in common with it: a command line that names the lab.
	named := exec.Command("sleep", "600")
	named.Args[0] = prefix + "-daemon"
	for _, d := range []*exec.Cmd{inNamespace, named} {
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		lo.daemons = append(lo.daemons, d)
	}
	var err error
	if lo.dir, err = os.MkdirTemp("", "bgplb-lab-"+prefix+"-"); err != nil {
		t.Fatal(err)
	}
	pins := filepath.Join(lo.dir, "bpf")
	if err := os.Mkdir(pins, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("bpf", pins, "bpf", 0, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(lo.frrRun, 0o755); err != nil {
		t.Fatal(err)
	}
	return lo
}

// remains lists the parts of the leftover that still exist.
func (lo *leftover) remains() []string {
	var found []string
	if prefixes, err := namespacePrefixes(); err != nil || prefixes[lo.prefix] {
		found = append(found, "namespace "+lo.ns)
	}
	if ip("", "link", "show", lo.link) == nil {
		found = append(found, "link "+lo.link)
	}
	for _, d := range lo.daemons {
		if processAlive(d.Process.Pid) {
			found = append(found, "process "+d.String())
		}
	}
	for _, dir := range []string{lo.dir, lo.frrRun} {
		if _, err := os.Stat(dir); err == nil {
			found = append(found, "directory "+dir)
		}
	}
	if mounts, err := os.ReadFile("/proc/self/mounts"); err != nil || strings.Contains(string(mounts), lo.dir+"/") {
		found = append(found, "a mount in "+lo.dir)
	}
	return found
}

func TestReapRemovesTheLabsOfDeadRunsAndKeepsLiveOnes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root for network namespaces")
	}
	runs := t.TempDir()
	prefixes := unusedPrefixes(t, 3)
	dead, reused, live := makeLeftover(t, prefixes[0]), makeLeftover(t, prefixes[1]), makeLeftover(t, prefixes[2])

	ended := exec.Command("true")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}
	self, err := processStart(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		lo  *leftover
		rec runRecord
	}{
		{dead, runRecord{PID: ended.Process.Pid}},
		// A running process that started at another time is not the
		// one that made the lab, but a later one with its PID.
		{reused, runRecord{PID: os.Getpid(), Start: self + 1}},
		{live, runRecord{PID: os.Getpid(), Start: self}},
	} {
		r.rec.Globs = []string{filepath.Join(os.TempDir(), "bgplb-lab-"+r.lo.prefix+"-*")}
		if err := writeRecord(filepath.Join(runs, r.lo.prefix+".json"), r.rec); err != nil {
			t.Fatal(err)
		}
	}

	var logged []string
	if err := reapStale(runs, func(format string, args ...any) { logged = append(logged, format) }); err != nil {
		t.Fatal(err)
	}
	for _, lo := range []*leftover{dead, reused} {
		if found := lo.remains(); len(found) > 0 {
			t.Errorf("the reaper left %v of lab %s", found, lo.prefix)
		}
		if _, err := os.Stat(filepath.Join(runs, lo.prefix+".json")); err == nil {
			t.Errorf("the record of reaped lab %s remains", lo.prefix)
		}
	}
	if found := live.remains(); len(found) != 7 {
		t.Errorf("of the live lab %s only %v remain", live.prefix, found)
	}
	if _, err := os.Stat(filepath.Join(runs, live.prefix+".json")); err != nil {
		t.Errorf("the live lab's record is gone: %v", err)
	}
	if len(logged) != 2 {
		t.Errorf("the reaper said %d things, want one per reaped lab", len(logged))
	}
}

// A claimed prefix is recorded with this process as its owner, so the
// reaper keeps it until release.
func TestAClaimedRunIsKeptUntilReleased(t *testing.T) {
	runs := t.TempDir()
	prefix, release, err := claimRun(runs)
	if err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(runs, prefix+".json")
	if err := reapStale(runs, t.Logf); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(record); err != nil {
		t.Fatalf("the reaper took the record of a live claim: %v", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("the record stays after release: %v", err)
	}
}

// unusedPrefixes returns n distinct lab prefixes that no namespace of
// this machine carries.
func unusedPrefixes(t *testing.T, n int) []string {
	t.Helper()
	inUse, err := namespacePrefixes()
	if err != nil {
		t.Fatal(err)
	}
	var prefixes []string
	for len(prefixes) < n {
		suffix := make([]byte, 2)
		_, _ = rand.Read(suffix)
		p := "bl" + hex.EncodeToString(suffix)
		if !inUse[p] {
			inUse[p] = true
			prefixes = append(prefixes, p)
		}
	}
	return prefixes
}
