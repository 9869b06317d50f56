package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/internal/k8s/testenv"
)

// A long-lived lab for people rather than tests: `Up` starts a background
// process that holds the lab (API server, responders and the namespaces all
// belong to it) and records it in a state file; `Down` asks that process
// to remove everything.

// StateDir holds the state of the lab that `Up` started.
const StateDir = "/run/bgplb-lab"

// SessionOptions configure a long-lived lab.
type SessionOptions struct {
	Nodes  int
	Router string // frr, bird or gobgp
	// Neighbours is how the router knows the nodes (Config.Neighbours).
	Neighbours string
	IPv6       bool   // give the sample Service an IPv6 address too
	BinDir     string // controller and speaker
	Samples    string // folder of sample objects to apply
}

// state is what a running lab records about itself.
type state struct {
	PID        int    `json:"pid"`
	Prefix     string `json:"prefix"`
	Dir        string `json:"dir"`
	Kubeconfig string `json:"kubeconfig"`
	Kubectl    string `json:"kubectl"`
	RouterNS   string `json:"routerNS"`
	Router     string `json:"router"`
	APIServer  string `json:"apiServerDir"`
	Ready      bool   `json:"ready"`
	Error      string `json:"error,omitempty"`
}

func statePath() string   { return filepath.Join(StateDir, "state.json") }
func summaryPath() string { return filepath.Join(StateDir, "summary.txt") }

func readState() (state, bool) {
	var s state
	data, err := os.ReadFile(statePath())
	if err != nil || json.Unmarshal(data, &s) != nil {
		return s, false
	}
	return s, s.PID > 0 && processAlive(s.PID)
}

// processAlive tells whether pid runs; a zombie (dead, not yet reaped,
// which happens to orphans where PID 1 does not reap) does not count.
func processAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func writeState(s state) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := statePath() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, statePath())
}

// Up starts a lab in the background, or finds the one already running, and
// returns its summary. self is the command line that runs Serve.
func Up(self []string, logPath string) (string, error) {
	if s, alive := readState(); alive {
		summary, err := os.ReadFile(summaryPath())
		if err != nil {
			return "", fmt.Errorf("a lab is running (pid %d) but has no summary yet: %w", s.PID, err)
		}
		return "A lab is already running (pid " + fmt.Sprint(s.PID) + "); its summary:\n\n" + string(summary), nil
	}
	if s, _ := readState(); s.Prefix != "" {
		// An earlier lab process died without cleaning up.
		if err := sweep(s.Prefix, s.Dir, s.APIServer); err != nil {
			return "", fmt.Errorf("remove what a dead lab left: %w", err)
		}
	}
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return "", err
	}
	os.Remove(statePath())
	os.Remove(summaryPath())
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer logFile.Close()
	cmd := exec.Command(self[0], self[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start the lab process: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if s, _ := readState(); s.Ready {
			summary, err := os.ReadFile(summaryPath())
			return string(summary), err
		} else if s.Error != "" {
			return "", fmt.Errorf("the lab failed: %s (log: %s)", s.Error, logPath)
		}
		select {
		case err := <-exited:
			return "", fmt.Errorf("the lab process ended (%v); see %s", err, logPath)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the lab was not ready after 5 minutes; see %s", logPath)
		}
	}
}

// Down stops the running lab and waits until it has removed everything.
// With no lab running it does nothing and succeeds.
func Down() (string, error) {
	s, alive := readState()
	if !alive {
		msg := "No lab is running."
		if s.Prefix != "" {
			// The lab process died without cleaning up (killed, or the
			// machine's OOM killer): remove what its state file names.
			if err := sweep(s.Prefix, s.Dir, s.APIServer); err != nil {
				return "", err
			}
			msg = fmt.Sprintf("The lab process was gone; removed what remained of lab %s.", s.Prefix)
		}
		os.RemoveAll(StateDir)
		return msg, nil
	}
	if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.PID)); !strings.Contains(string(cmdline), "serve") {
		return "", fmt.Errorf("process %d of %s is not a lab process; remove %s by hand", s.PID, statePath(), StateDir)
	}
	if err := syscall.Kill(s.PID, syscall.SIGTERM); err != nil {
		return "", fmt.Errorf("stop lab process %d: %w", s.PID, err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for processAlive(s.PID) {
		if time.Now().After(deadline) {
			return "", fmt.Errorf("lab process %d did not stop within 2 minutes", s.PID)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The process removes its lab; sweeping after it costs nothing and
	// catches whatever a failed cleanup step left. A lab stopped before it
	// had a prefix made nothing to sweep.
	if s.Prefix != "" {
		if err := sweep(s.Prefix, s.Dir, s.APIServer); err != nil {
			return "", err
		}
	}
	os.RemoveAll(StateDir)
	return fmt.Sprintf("Lab %s removed.", s.Prefix), nil
}

// Serve builds the lab, applies the samples, writes the summary and holds
// the lab until SIGTERM or SIGINT, then removes it.
func Serve(opts SessionOptions) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	st := state{PID: os.Getpid(), Router: opts.Router}
	if err := writeState(st); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			st.Error = err.Error()
			_ = writeState(st)
		}
	}()
	// The sample BGPPeer uses the sample BFD profile, so an FRR router
	// runs bfdd; the BIRD and GoBGP lab routers have no BFD, and the
	// nodes' BFD then simply stays down beside working sessions.
	cfg := Config{Nodes: opts.Nodes, BinDir: opts.BinDir, Router: opts.Router, Neighbours: opts.Neighbours,
		BFD:  opts.Router == "" || opts.Router == "frr",
		Logf: func(f string, a ...any) { fmt.Printf(f+"\n", a...) }}
	l, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("removing the lab")
		err = errors.Join(err, l.Close())
	}()
	kubeBin, err := testenv.BinDir()
	if err != nil {
		return err
	}
	st.Prefix, st.Dir, st.Kubeconfig, st.Kubectl = l.Prefix, l.Dir, l.Kubeconfig, filepath.Join(kubeBin, "kubectl")
	st.RouterNS = l.Prefix + "-router"
	st.APIServer = l.APIServerDir()
	if err := writeState(st); err != nil {
		return err
	}
	summary, err := l.demo(ctx, opts, st)
	if err != nil {
		return err
	}
	if err := os.WriteFile(summaryPath(), []byte(summary), 0o644); err != nil {
		return err
	}
	st.Ready = true
	if err := writeState(st); err != nil {
		return err
	}
	fmt.Println("lab ready")
	<-ctx.Done()
	return nil
}

// demo applies the samples, gives the sample Service an endpoint on every
// node, waits for the router to load-balance it and returns the summary.
func (l *Lab) demo(ctx context.Context, opts SessionOptions, st state) (string, error) {
	out, err := exec.Command(st.Kubectl, "--kubeconfig", l.Kubeconfig, "apply", "-f", opts.Samples).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("apply samples: %w: %s", err, out)
	}
	var svc corev1.Service
	if err := l.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "web"}, &svc); err != nil {
		return "", fmt.Errorf("the samples have no Service default/web: %w", err)
	}
	if !opts.IPv6 {
		// The sample asks for dual-stack; with IPv6 off it keeps IPv4 only.
		// The controller may be writing the Service's status meanwhile.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := l.Client.Get(ctx, client.ObjectKeyFromObject(&svc), &svc); err != nil {
				return err
			}
			svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
			svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
			return l.Client.Update(ctx, &svc)
		})
		if err != nil {
			return "", fmt.Errorf("make the sample Service IPv4-only: %w", err)
		}
	}
	endpoints := map[string][]EndpointState{}
	for _, n := range l.Nodes {
		endpoints[n.Name] = []EndpointState{Ready}
	}
	if err := l.SetEndpoints(ctx, &svc, endpoints); err != nil {
		return "", err
	}
	var addrs []netip.Addr
	want := 1
	if opts.IPv6 {
		want = 2
	}
	if err := poll(ctx, 60*time.Second, "the sample Service gets its addresses", func() bool {
		addrs = nil
		if err := l.Client.Get(ctx, client.ObjectKeyFromObject(&svc), &svc); err != nil {
			return false
		}
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(in.IP); err == nil {
				addrs = append(addrs, a)
			}
		}
		return len(addrs) == want
	}); err != nil {
		return "", err
	}
	for _, a := range addrs {
		if err := poll(ctx, 60*time.Second, "the router has a route with every node as next hop", func() bool {
			hops, err := l.Router.KernelNextHops(netip.PrefixFrom(a, a.BitLen()))
			return err == nil && len(hops) == len(l.Nodes)
		}); err != nil {
			return "", err
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Service default/web (type LoadBalancer): external addresses %s\n\n", joinAddrs(addrs))
	neighbours := opts.Neighbours
	if neighbours == "" {
		neighbours = StaticNeighbours
	}
	fmt.Fprintf(&b, "Router BGP sessions (%s, %s neighbours):\n", opts.Router, neighbours)
	up, _ := l.Router.Established()
	for _, n := range l.Nodes {
		state := "not established"
		for _, u := range up {
			if u == n.Addr4.String() {
				state = "Established"
			}
		}
		fmt.Fprintf(&b, "  %-14s %-8s %s\n", n.Addr4, n.Name, state)
	}
	for _, a := range addrs {
		hops, _ := l.Router.KernelNextHops(netip.PrefixFrom(a, a.BitLen()))
		fmt.Fprintf(&b, "\nRouter kernel route %s: %d next hops\n", netip.PrefixFrom(a, a.BitLen()), len(hops))
		for _, h := range hops {
			fmt.Fprintf(&b, "  via %s\n", h)
		}
	}
	for _, a := range addrs {
		served := map[string]int{}
		failed := 0
		for range 300 {
			node, err := l.WhoServes(ctx, a)
			if err != nil {
				failed++
				continue
			}
			served[node]++
		}
		fmt.Fprintf(&b, "\nTraffic: 300 connections from the client to %s:\n", netip.AddrPortFrom(a, ResponderPort))
		names := make([]string, 0, len(served))
		for n := range served {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(&b, "  %-8s %3d\n", n, served[n])
		}
		if failed > 0 {
			fmt.Fprintf(&b, "  failed   %3d\n", failed)
		}
	}
	fmt.Fprintf(&b, "\nLook further:\n")
	fmt.Fprintf(&b, "  %s --kubeconfig %s get svc,ippools,bgppeers -A\n", st.Kubectl, l.Kubeconfig)
	switch opts.Router {
	case "bird":
		fmt.Fprintf(&b, "  birdc -s %s show route all\n", filepath.Join(l.Dir, "bird", "bird.ctl"))
	case "gobgp":
		fmt.Fprintf(&b, "  ip netns exec %s gobgp global rib\n", st.RouterNS)
	default:
		fmt.Fprintf(&b, "  ip netns exec %s vtysh -N %s -c 'show bgp ipv4 unicast'\n", st.RouterNS, st.RouterNS)
	}
	fmt.Fprintf(&b, "  ip -n %s route\n", st.RouterNS)
	fmt.Fprintf(&b, "  ip netns exec %s bash -c 'head -1 < /dev/tcp/%s/%d'   (which node answers?)\n", l.ClientNS, addrs[0], ResponderPort)
	fmt.Fprintf(&b, "  logs: %s\n", l.Dir)
	fmt.Fprintf(&b, "Stop and remove everything: make lab-down\n")
	return b.String(), nil
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func poll(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting until %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// sweep removes the processes, namespaces, links and files of a lab whose
// process is gone: everything named by its prefix, its directory or its API
// server's directory.
func sweep(prefix string, dirs ...string) error {
	if !strings.HasPrefix(prefix, "bl") || len(prefix) != 6 {
		return fmt.Errorf("refusing to sweep unexpected lab prefix %q", prefix)
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid := 0
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		named := err == nil && strings.Contains(string(cmdline), prefix+"-")
		for _, dir := range dirs {
			named = named || (err == nil && dir != "" && strings.Contains(string(cmdline), dir))
		}
		if named {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	var errs []error
	if out, err := run("ip", "netns", "list"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix+"-") {
				if err := ip("", "netns", "del", f[0]); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if out, err := run("ip", "-o", "link", "show"); err == nil {
		for _, line := range strings.Split(out, "\n") {
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
	errs = append(errs, os.RemoveAll(filepath.Join("/var/run/frr", prefix+"-router")))
	for _, dir := range dirs {
		if dir != "" {
			errs = append(errs, os.RemoveAll(dir))
		}
	}
	return errors.Join(errs...)
}
