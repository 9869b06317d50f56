package gobgp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/poll"
	"github.com/bgplb/bgplb/internal/testpoll"
)

// The FRR lab: a router in its own network namespace, joined by a veth pair
// to the root namespace, where the test process runs the engine.
//
// Addresses come from the router-node LAN of DESIGN.md, 198.18.0.0/24 and
// 2001:db8:1::/64. So that tests can run in parallel, each router gets a
// slot: a /28 and a /112 of the LAN. In slot 0 the router is 198.18.0.1
// and 2001:db8:1::1 and the speaker has .2/::2 and, as a second source
// address for a second session, .3/::3; slot n adds 16n to the IPv4
// addresses and n<<16 to the IPv6 ones.
//
// Because the speaker side lives in the root namespace, two runs of these
// tests at the same time would fight over the same addresses; TestMain
// serialises runs with a lock file and removes what a killed run left
// behind.

const (
	frrDir     = "/usr/lib/frr"
	labPrefix  = "bgplbt-"
	lockPath   = "/tmp/bgplb-gobgp-frrlab.lock"
	routerASN  = 64501
	speakerASN = 64512
	labSlots   = 16
)

// labAddrs are the addresses of one lab slot.
type labAddrs struct {
	routerV4, speakerV4, speaker2V4 netip.Addr
	routerV6, speakerV6, speaker2V6 netip.Addr
}

func slotAddrs(n int) labAddrs {
	v4 := func(host int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, byte(16*n + host)}) }
	v6 := func(host int) netip.Addr {
		b := netip.MustParseAddr("2001:db8:1::").As16()
		b[13] = byte(n)
		b[15] = byte(host)
		return netip.AddrFrom16(b)
	}
	return labAddrs{
		routerV4: v4(1), speakerV4: v4(2), speaker2V4: v4(3),
		routerV6: v6(1), speakerV6: v6(2), speaker2V6: v6(3),
	}
}

var slots = struct {
	mu    sync.Mutex
	inUse [labSlots]bool
}{}

// takeSlot reserves a free slot until the test ends.
func takeSlot(t *testing.T) int {
	t.Helper()
	slots.mu.Lock()
	defer slots.mu.Unlock()
	for n, used := range slots.inUse {
		if !used {
			slots.inUse[n] = true
			t.Cleanup(func() {
				slots.mu.Lock()
				defer slots.mu.Unlock()
				slots.inUse[n] = false
			})
			return n
		}
	}
	t.Fatalf("all %d lab slots are in use", labSlots)
	return 0
}

func TestMain(m *testing.M) {
	// The lab tests spend their time waiting for BGP timers, not CPU, so
	// they run all at once unless -test.parallel says otherwise.
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		parallel := labSlots
		if raceEnabled {
			// Every GoBGP server writes and reads package variables of
			// GoBGP (see startBgpMu); engines of parallel tests would
			// make the race detector report them.
			parallel = 1
		}
		_ = flag.Set("test.parallel", strconv.Itoa(parallel))
	}
	os.Exit(runWithLabLock(m))
}

func runWithLabLock(m *testing.M) int {
	lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "open lab lock %s: %v\n", lockPath, err)
		return 1
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		fmt.Fprintf(os.Stderr, "lock %s: %v\n", lockPath, err)
		return 1
	}
	// Holding the lock, no other run is active: any lab namespace is a
	// leftover of a run that was killed before its cleanup.
	sweepLeftovers()
	return m.Run()
}

// sweepLeftovers removes lab namespaces (and the FRR daemons in them) and
// directories that a killed run left behind. It only touches names with
// the lab prefix.
func sweepLeftovers() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || !strings.HasPrefix(fields[0], labPrefix) {
			continue
		}
		ns := fields[0]
		killNamespaceProcesses(ns)
		_ = exec.Command("ip", "netns", "del", ns).Run()
		fmt.Fprintf(os.Stderr, "removed leftover lab namespace %s\n", ns)
	}
	// The daemons' files: each router's directory and FRR's run
	// directory of its pathspace.
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), labPrefix+"frr-*"))
	runDirs, _ := filepath.Glob(filepath.Join("/var/run/frr", labPrefix+"*"))
	for _, dir := range append(dirs, runDirs...) {
		if os.RemoveAll(dir) == nil {
			fmt.Fprintf(os.Stderr, "removed leftover lab directory %s\n", dir)
		}
	}
}

// killNamespaceProcesses kills the processes that run in ns: the FRR
// daemons the lab started there.
func killNamespaceProcesses(ns string) {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// neighborConf is one neighbor statement of the router.
type neighborConf struct {
	// speaker is 1 for the speaker's first address, 2 for its second.
	speaker  int
	asn      uint32
	password string
}

// routerConf describes the FRR router of a test.
type routerConf struct {
	asn       uint32
	neighbors []neighborConf
	// networks are prefixes the router originates itself.
	networks []netip.Prefix
}

// router is an FRR router (zebra and bgpd) running in its own namespace.
type router struct {
	labAddrs
	t   *testing.T
	ns  string
	dir string
}

// speaker returns the speaker's address number n (1 or 2).
func (a labAddrs) speaker(n int) (v4, v6 netip.Addr) {
	if n == 2 {
		return a.speaker2V4, a.speaker2V6
	}
	return a.speakerV4, a.speakerV6
}

// run runs a command and returns its combined output, with the command
// line in the error.
func run(name string, args ...string) (string, error) {
	var buf bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return buf.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(buf.String()))
	}
	return buf.String(), nil
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if _, err := run(name, args...); err != nil {
		t.Fatal(err)
	}
}

// requireLab fails the test if this machine cannot run the lab. It fails
// instead of skipping: a missing FRR would otherwise hide that none of
// these tests ran.
func requireLab(t *testing.T) {
	t.Helper()
	for _, d := range []string{"zebra", "bgpd"} {
		if _, err := os.Stat(filepath.Join(frrDir, d)); err != nil {
			t.Fatalf("FRR is not installed: %s is missing (%v); install the frr package (apt-get install frr)", filepath.Join(frrDir, d), err)
		}
	}
	if _, err := exec.LookPath("vtysh"); err != nil {
		t.Fatalf("FRR's vtysh is not on PATH (%v); install the frr package", err)
	}
	if os.Geteuid() != 0 {
		t.Fatal("the FRR lab needs root to create network namespaces and veth pairs")
	}
}

// newRouter creates a namespace with a veth pair to the root namespace,
// starts FRR in it with conf, and removes everything when the test ends,
// also when it fails.
func newRouter(t *testing.T, conf routerConf) *router {
	t.Helper()
	requireLab(t)
	id := make([]byte, 3)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	name := labPrefix + hex.EncodeToString(id) // 13 characters, so that interface names stay within 15
	r := &router{t: t, ns: name + "-r", labAddrs: slotAddrs(takeSlot(t))}

	mustRun(t, "ip", "netns", "add", r.ns)
	t.Cleanup(func() {
		killNamespaceProcesses(r.ns)
		if _, err := run("ip", "netns", "del", r.ns); err != nil {
			t.Errorf("remove lab namespace: %v", err)
		}
	})
	speakerIf, routerIf := name+"-s", name+"-r"
	mustRun(t, "ip", "link", "add", speakerIf, "type", "veth", "peer", "name", routerIf, "netns", r.ns)
	t.Cleanup(func() {
		// Deleting the namespace deletes the pair; this covers a failure
		// between the two steps.
		_, _ = run("ip", "link", "del", speakerIf)
	})
	for _, args := range [][]string{
		{"addr", "add", r.speakerV4.String() + "/28", "dev", speakerIf},
		{"addr", "add", r.speaker2V4.String() + "/28", "dev", speakerIf},
		{"-6", "addr", "add", r.speakerV6.String() + "/112", "dev", speakerIf, "nodad"},
		{"-6", "addr", "add", r.speaker2V6.String() + "/112", "dev", speakerIf, "nodad"},
		{"link", "set", speakerIf, "up"},
		{"-n", r.ns, "link", "set", "lo", "up"},
		{"-n", r.ns, "addr", "add", r.routerV4.String() + "/28", "dev", routerIf},
		{"-n", r.ns, "-6", "addr", "add", r.routerV6.String() + "/112", "dev", routerIf, "nodad"},
		{"-n", r.ns, "link", "set", routerIf, "up"},
	} {
		mustRun(t, "ip", args...)
	}

	// FRR drops privileges to the frr user, which must be able to write
	// its pid files, logs and sockets.
	// The directory must be reachable by the frr user, which
	// t.TempDir's parent is not.
	dir, err := os.MkdirTemp("", labPrefix+"frr-")
	if err != nil {
		t.Fatal(err)
	}
	r.dir = dir
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if out, err := run("chown", "frr:frr", r.dir); err != nil {
		t.Fatalf("give the FRR directory to the frr user: %v: %s", err, out)
	}
	write := func(file, content string) {
		p := filepath.Join(r.dir, file)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("zebra.conf", "hostname "+r.ns+"\n")
	write("bgpd.conf", bgpdConfig(conf, r.labAddrs))
	// With -N the daemons also create /var/run/frr/<pathspace>. Cleanups
	// run last-registered first, so this one runs after stopDaemons.
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Join("/var/run/frr", r.ns)) })
	t.Cleanup(r.stopDaemons)
	for _, daemon := range []string{"zebra", "bgpd"} {
		args := []string{"netns", "exec", r.ns, filepath.Join(frrDir, daemon),
			"-d",
			"-N", r.ns,
			"-f", filepath.Join(r.dir, daemon+".conf"),
			"-i", filepath.Join(r.dir, daemon+".pid"),
			"-z", filepath.Join(r.dir, "zserv.api"),
			"--vty_socket", r.dir,
			"-P", "0",
			"--log", "file:" + filepath.Join(r.dir, daemon+".log"),
		}
		if out, err := run("ip", args...); err != nil {
			t.Fatalf("start %s: %v: %s", daemon, err, out)
		}
	}
	testpoll.Until(t, 10*time.Second, "FRR answers vtysh", poll.Succeeds(func() error {
		_, err := r.vtysh("show bgp summary json")
		return err
	}))
	t.Cleanup(func() {
		if t.Failed() {
			r.dumpState()
		}
	})
	return r
}

// bgpdConfig renders the router's bgpd configuration. Neighbors are
// passive, so that the router never connects to whatever might listen on
// port 179 in the root namespace; the engine connects out. Timers are
// short so that the tests run fast.
func bgpdConfig(conf routerConf, addrs labAddrs) string {
	var b strings.Builder
	fmt.Fprintf(&b, "frr defaults traditional\n")
	fmt.Fprintf(&b, "router bgp %d\n", conf.asn)
	fmt.Fprintf(&b, " bgp router-id %s\n", addrs.routerV4)
	fmt.Fprintf(&b, " no bgp ebgp-requires-policy\n")
	fmt.Fprintf(&b, " no bgp network import-check\n")
	fmt.Fprintf(&b, " bgp bestpath as-path multipath-relax\n")
	for _, n := range conf.neighbors {
		addr, _ := addrs.speaker(n.speaker)
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n", addr, n.asn)
		fmt.Fprintf(&b, " neighbor %s passive\n", addr)
		fmt.Fprintf(&b, " neighbor %s timers 1 3\n", addr)
		fmt.Fprintf(&b, " neighbor %s timers connect 1\n", addr)
		if n.password != "" {
			fmt.Fprintf(&b, " neighbor %s password %s\n", addr, n.password)
		}
	}
	for _, family := range []string{"ipv4", "ipv6"} {
		fmt.Fprintf(&b, " address-family %s unicast\n", family)
		fmt.Fprintf(&b, "  maximum-paths 8\n")
		fmt.Fprintf(&b, "  maximum-paths ibgp 8\n")
		for _, n := range conf.neighbors {
			addr, _ := addrs.speaker(n.speaker)
			fmt.Fprintf(&b, "  neighbor %s activate\n", addr)
		}
		for _, p := range conf.networks {
			if p.Addr().Is4() == (family == "ipv4") {
				fmt.Fprintf(&b, "  network %s\n", p)
			}
		}
		fmt.Fprintf(&b, " exit-address-family\n")
	}
	return b.String()
}

// stopDaemons stops bgpd and zebra, waiting up to a few seconds for each.
func (r *router) stopDaemons() {
	for _, daemon := range []string{"bgpd", "zebra"} {
		b, err := os.ReadFile(filepath.Join(r.dir, daemon+".pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		// A daemon that outlives the wait is killed below.
		_ = poll.Until(context.Background(), 3*time.Second, daemon+" exits", func() (bool, string) {
			return syscall.Kill(pid, 0) != nil, ""
		})
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// vtysh runs one command on the router.
func (r *router) vtysh(command string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("vtysh", "--vty_socket", r.dir, "-c", command)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("vtysh -c %q: %w: %s%s", command, err, stdout.String(), stderr.String())
	}
	return stdout.Bytes(), nil
}

// vtyshJSON runs a command ending in "json" and decodes its output.
func (r *router) vtyshJSON(command string, v any) error {
	out, err := r.vtysh(command)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("decode output of %q: %w: %s", command, err, out)
	}
	return nil
}

// dumpState logs what the router knows, to explain a failure.
func (r *router) dumpState() {
	for _, c := range []string{"show bgp summary", "show bgp ipv4 unicast", "show bgp ipv6 unicast"} {
		out, err := r.vtysh(c)
		r.t.Logf("router %s: %s:\n%s%v", r.ns, c, out, errOrEmpty(err))
	}
	if b, err := os.ReadFile(filepath.Join(r.dir, "bgpd.log")); err == nil {
		r.t.Logf("router %s: bgpd.log:\n%s", r.ns, b)
	}
}

func errOrEmpty(err error) any {
	if err == nil {
		return ""
	}
	return err
}

// frrNeighbor is the part of "show bgp neighbors json" the tests use.
type frrNeighbor struct {
	BGPState                   string `json:"bgpState"`
	BGPTimerUpEstablishedEpoch int64  `json:"bgpTimerUpEstablishedEpoch"`
	ConnectionsEstablished     int    `json:"connectionsEstablished"`
	ConnectionsDropped         int    `json:"connectionsDropped"`
	LastResetDueTo             string `json:"lastResetDueTo"`
	LastNotificationReason     string `json:"lastNotificationReason"`
	LastErrorCodeSubcode       string `json:"lastErrorCodeSubcode"`
	MessageStats               struct {
		UpdatesRecv      int `json:"updatesRecv"`
		NotificationsRcv int `json:"notificationsRecv"`
	} `json:"messageStats"`
}

// neighbor returns the router's view of its neighbor addr.
func (r *router) neighbor(addr netip.Addr) (frrNeighbor, error) {
	var all map[string]frrNeighbor
	if err := r.vtyshJSON("show bgp neighbors "+addr.String()+" json", &all); err != nil {
		return frrNeighbor{}, err
	}
	n, ok := all[addr.String()]
	if !ok {
		return frrNeighbor{}, fmt.Errorf("router has no neighbor %s", addr)
	}
	return n, nil
}

// frrPath is one path of "show bgp <afi> unicast <prefix> json".
type frrPath struct {
	Valid     bool `json:"valid"`
	Stale     bool `json:"stale"`
	Community *struct {
		List []string `json:"list"`
	} `json:"community"`
	LargeCommunity *struct {
		List []string `json:"list"`
	} `json:"largeCommunity"`
	Med       *uint32 `json:"metric"`
	LocalPref *uint32 `json:"locPrf"`
	ASPath    struct {
		String string `json:"string"`
	} `json:"aspath"`
	Peer struct {
		PeerID string `json:"peerId"`
	} `json:"peer"`
	Nexthops []struct {
		IP    string `json:"ip"`
		Scope string `json:"scope"`
	} `json:"nexthops"`
}

// paths returns the router's paths for pfx; none if it has no route.
func (r *router) paths(pfx netip.Prefix) ([]frrPath, error) {
	afi := "ipv4"
	if pfx.Addr().Is6() {
		afi = "ipv6"
	}
	var out struct {
		Prefix string    `json:"prefix"`
		Paths  []frrPath `json:"paths"`
	}
	if err := r.vtyshJSON(fmt.Sprintf("show bgp %s unicast %s json", afi, pfx), &out); err != nil {
		return nil, err
	}
	if out.Prefix != "" && out.Prefix != pfx.String() {
		// FRR answers with the longest match for an absent prefix.
		return nil, nil
	}
	return out.Paths, nil
}

// logBuffer collects the engine's logs, so that tests can check what they
// contain; it also passes them on to the test log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newEngine returns an engine logging at debug level into the returned
// buffer; it is stopped when the test ends. The logs are printed if the
// test fails.
func newEngine(t *testing.T) (*Engine, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	e := New(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx, bgp.StopRequest{}); err != nil {
			t.Errorf("stop engine: %v", err)
		}
		if t.Failed() {
			t.Logf("engine logs:\n%s", logs.String())
		}
	})
	return e, logs
}

// waitSession waits until the engine reports the peer's session in state.
func waitSession(t *testing.T, e *Engine, peer string, state bgp.SessionState, timeout time.Duration) {
	t.Helper()
	testpoll.Until(t, timeout, "the engine reports session "+peer+" "+string(state), poll.Succeeds(func() error {
		sessions, err := e.Sessions(context.Background())
		if err != nil {
			return err
		}
		for _, s := range sessions {
			if s.Peer == peer {
				if s.State != state {
					return fmt.Errorf("session %s is %s (last error %q), want %s", peer, s.State, s.LastError, state)
				}
				return nil
			}
		}
		return errors.New("no session for peer " + peer)
	}))
}
