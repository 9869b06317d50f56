package lab

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/bgplb/bgplb/internal/k8s/testenv"
)

// A test binary killed on -timeout runs no cleanup, and its lab's
// namespaces, links, daemons and files stay behind. So every lab records
// its prefix and its process in RunsDir, and every run first reaps the
// labs whose process is gone: ReapStale. A lab whose process still runs
// is never touched, so two runs can share the machine.

// RunsDir holds one record per running lab, named after its prefix.
const RunsDir = "/run/bgplb-lab-runs"

// runRecord is what a lab records about itself in RunsDir.
type runRecord struct {
	PID int `json:"pid"`
	// Start is when the process started, in clock ticks since boot: it
	// tells the lab's process from a later one that got the same PID.
	Start uint64 `json:"start"`
	// Globs match the lab's directories outside the ones its prefix
	// names: its own and its API server's.
	Globs []string `json:"globs"`
}

// labGlobs are the globs of the directories a lab with prefix makes.
func labGlobs(prefix string) []string {
	return []string{filepath.Join(os.TempDir(), "bgplb-lab-"+prefix+"-*"), testenv.DirGlob(prefix)}
}

// ReapStale removes what labs whose process is gone left behind, saying
// so through logf (nil is quiet). The lab calls it before it starts;
// test binaries that start labs call it in TestMain.
func ReapStale(logf func(format string, args ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return reapStale(RunsDir, logf)
}

func reapStale(runsDir string, logf func(format string, args ...any)) error {
	unlock, err := lockRuns(runsDir)
	if err != nil {
		return err
	}
	defer unlock()
	records, err := filepath.Glob(filepath.Join(runsDir, "*.json"))
	if err != nil {
		return err
	}
	var errs []error
	for _, path := range records {
		prefix := strings.TrimSuffix(filepath.Base(path), ".json")
		// The lock keeps a reaper from reading a record half written: one
		// that does not read was cut short by its process's death.
		rec, err := readRecord(path)
		if err == nil && rec.ownerRuns() {
			continue
		}
		why := fmt.Sprintf("its process %d is gone", rec.PID)
		if err != nil {
			why = fmt.Sprintf("its record is unreadable (%v)", err)
		}
		if err := sweep(prefix, rec.dirs()...); err != nil {
			errs = append(errs, fmt.Errorf("remove what lab %s left: %w", prefix, err))
			continue
		}
		if err := os.Remove(path); err != nil {
			errs = append(errs, err)
			continue
		}
		logf("removed what lab %s left behind: %s", prefix, why)
	}
	return errors.Join(errs...)
}

// claimRun picks a prefix no other lab uses and records it with this
// process as its owner; release removes the record once the lab is gone.
func claimRun(runsDir string) (prefix string, release func() error, err error) {
	unlock, err := lockRuns(runsDir)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	start, err := processStart(os.Getpid())
	if err != nil {
		return "", nil, err
	}
	inUse, err := namespacePrefixes()
	if err != nil {
		return "", nil, err
	}
	for range 100 {
		suffix := make([]byte, 2)
		_, _ = rand.Read(suffix)
		prefix := "bl" + hex.EncodeToString(suffix)
		// A lab of a run from before records has no record, only its
		// namespaces.
		if inUse[prefix] {
			continue
		}
		path := filepath.Join(runsDir, prefix+".json")
		err := writeRecord(path, runRecord{PID: os.Getpid(), Start: start, Globs: labGlobs(prefix)})
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		return prefix, func() error { return os.Remove(path) }, nil
	}
	return "", nil, errors.New("found no free lab prefix in 100 tries")
}

// lockRuns takes the lock that orders claims and reaps of runsDir, and
// returns the function that lets it go.
func lockRuns(runsDir string) (unlock func(), err error) {
	if err := os.MkdirAll(runsDir, 0o755); err != nil {
		return nil, fmt.Errorf("lab runs directory: %w", err)
	}
	path := filepath.Join(runsDir, ".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// writeRecord creates the record at path, failing with fs.ErrExist if
// another lab holds it.
func writeRecord(path string, rec runRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err = errors.Join(err, f.Close()); err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func readRecord(path string) (runRecord, error) {
	var rec runRecord
	data, err := os.ReadFile(path)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, fmt.Errorf("read %s: %w: %q", path, err, data)
	}
	return rec, nil
}

// ownerRuns tells whether the process that recorded the lab still runs.
func (r runRecord) ownerRuns() bool {
	start, err := processStart(r.PID)
	return err == nil && start == r.Start && processAlive(r.PID)
}

// dirs returns the directories that the record's globs match.
func (r runRecord) dirs() []string {
	var dirs []string
	for _, g := range r.Globs {
		matches, _ := filepath.Glob(g)
		dirs = append(dirs, matches...)
	}
	return dirs
}

// namespacePrefixes returns the lab prefixes that network namespaces
// carry.
func namespacePrefixes() (map[string]bool, error) {
	out, err := run("ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	prefixes := map[string]bool{}
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 {
			if prefix, _, ok := strings.Cut(f[0], "-"); ok {
				prefixes[prefix] = true
			}
		}
	}
	return prefixes, nil
}

// processStat returns the fields of /proc/<pid>/stat after the command
// name, which may itself hold spaces: the first is the state.
func processStat(pid int) ([]string, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	end := strings.LastIndexByte(string(stat), ')')
	if end < 0 {
		return nil, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, stat)
	}
	return strings.Fields(string(stat[end+1:])), nil
}

// processAlive tells whether pid runs; a zombie (dead, not yet reaped,
// which happens to orphans where PID 1 does not reap) does not count.
func processAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	fields, err := processStat(pid)
	return err == nil && len(fields) > 0 && fields[0] != "Z"
}

// processStart returns when pid started, in clock ticks since boot
// (field 22 of /proc/<pid>/stat).
func processStart(pid int) (uint64, error) {
	fields, err := processStat(pid)
	if err != nil {
		return 0, err
	}
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat has %d fields after the name, want 20 or more", pid, len(fields))
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// sweep removes the processes, namespaces, links, mounts and files of a
// lab whose process is gone: everything named by its prefix, its directory
// or its API server's directory.
func sweep(prefix string, dirs ...string) error {
	if !strings.HasPrefix(prefix, "bl") || len(prefix) != 6 {
		return fmt.Errorf("refusing to sweep unexpected lab prefix %q", prefix)
	}
	dirs = slices.DeleteFunc(dirs, func(d string) bool { return d == "" })
	killNamedProcesses(prefix, dirs)
	errs := []error{deleteNamespaces(prefix)}
	deleteLinks(prefix)
	errs = append(errs, os.RemoveAll(filepath.Join("/var/run/frr", prefix+"-router")), os.RemoveAll(frrConfDir(prefix+"-router")))
	for _, dir := range dirs {
		// A director lab's bpf filesystem is mounted in its directory.
		if err := unmountUnder(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, os.RemoveAll(dir))
	}
	return errors.Join(errs...)
}

// killNamedProcesses kills the processes whose command line names the
// prefix or one of dirs: the controller, kube-apiserver and etcd in the
// root namespace, and the daemons started with paths in the lab's
// directory.
func killNamedProcesses(prefix string, dirs []string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		named := strings.Contains(string(cmdline), prefix+"-")
		for _, dir := range dirs {
			named = named || strings.Contains(string(cmdline), dir)
		}
		if named {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// deleteNamespaces deletes the namespaces of the prefix, after killing
// every process in them, whatever its command line.
func deleteNamespaces(prefix string) error {
	out, err := run("ip", "netns", "list")
	if err != nil {
		return err
	}
	var errs []error
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], prefix+"-") {
			continue
		}
		if pids, err := run("ip", "netns", "pids", f[0]); err == nil {
			for _, p := range strings.Fields(pids) {
				if pid, err := strconv.Atoi(p); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if err := ip("", "netns", "del", f[0]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deleteLinks deletes the root namespace's links of the prefix; deleting
// one end of a veth pair deletes the other, so a failure is no error.
func deleteLinks(prefix string) {
	out, err := run("ip", "-o", "link", "show")
	if err != nil {
		return
	}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name := strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0]
		if strings.HasPrefix(name, prefix+"-") {
			_ = ip("", "link", "del", name)
		}
	}
}
