package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/testenv"
	"github.com/bgplb/bgplb/internal/poll"
)

// A long-lived lab for people rather than tests: `Up` starts a background
// process that holds the lab (API server, pods and the namespaces all
// belong to it) and records it in a state file; `Down` asks that process
// to remove everything.

// StateDir holds the state of the lab that `Up` started.
const StateDir = "/run/bgplb-lab"

// SessionOptions configure a long-lived lab.
type SessionOptions struct {
	Nodes  int    `json:"nodes"`
	Router string `json:"router"` // frr, bird or gobgp
	// Neighbours is how the router knows the nodes (Config.Neighbours).
	Neighbours string `json:"neighbours"`
	IPv6       bool   `json:"ipv6"`    // give the sample Service an IPv6 address too
	BinDir     string `json:"binDir"`  // controller, speaker, bgplbctl and this command
	Samples    string `json:"samples"` // folder of sample objects to apply
}

// differences names the options in which want differs from o, as the
// command line's flags, for a person who asked for want.
func (o SessionOptions) differences(want SessionOptions) []string {
	var diffs []string
	add := func(flag string, have, asked any) {
		if have != asked {
			diffs = append(diffs, fmt.Sprintf("-%s %v (you asked for %v)", flag, have, asked))
		}
	}
	add("nodes", o.Nodes, want.Nodes)
	add("router", o.Router, want.Router)
	add("neighbours", o.Neighbours, want.Neighbours)
	add("ipv6", o.IPv6, want.IPv6)
	return diffs
}

// state is what a running lab records about itself.
type state struct {
	PID        int            `json:"pid"`
	Options    SessionOptions `json:"options"`
	Prefix     string         `json:"prefix"`
	Dir        string         `json:"dir"`
	Kubeconfig string         `json:"kubeconfig"`
	Kubectl    string         `json:"kubectl"`
	RouterNS   string         `json:"routerNS"`
	ClientNS   string         `json:"clientNS"`
	NodeNS     []string       `json:"nodeNS"`
	// MetricsToken may read the speakers' and the controller's metrics.
	MetricsToken string `json:"metricsToken"`
	// ControllerMetrics is where the controller serves its metrics.
	ControllerMetrics string `json:"controllerMetrics"`
	APIServer         string `json:"apiServerDir"`
	Ready             bool   `json:"ready"`
	Error             string `json:"error,omitempty"`
}

func statePath() string   { return filepath.Join(StateDir, "state.json") }
func summaryPath() string { return filepath.Join(StateDir, "summary.txt") }

// LogPath is where the lab process writes its progress; it goes with the
// rest of the lab's state when the lab is removed.
func LogPath() string { return filepath.Join(StateDir, "lab.log") }

func readState() (state, bool) {
	var s state
	data, err := os.ReadFile(statePath())
	if err != nil || json.Unmarshal(data, &s) != nil {
		return s, false
	}
	return s, s.PID > 0 && processAlive(s.PID)
}

func writeState(s state) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	// The state holds a token that may read metrics: root's only.
	tmp := statePath() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, statePath())
}

// Up starts a lab with opts in the background, or finds the one already
// running with the same options, and returns its summary. A running lab
// with other options is an error: the person asked for a lab it is not.
// serve is the command line that runs Serve.
func Up(opts SessionOptions, serve []string) (string, error) {
	if s, alive := readState(); alive {
		if diffs := s.Options.differences(opts); len(diffs) > 0 {
			return "", fmt.Errorf("a lab is already running with other options: %s; remove it first with make lab-down (bgplb-lab down)",
				strings.Join(diffs, "; "))
		}
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
	logPath := LogPath()
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer logFile.Close()
	cmd := exec.Command(serve[0], serve[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start the lab process: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return waitUntilServed(exited, logPath)
}

// waitUntilServed waits until the lab process that Up started has made
// its lab and returns the lab's summary, or says why it did not: the
// process failed, ended (exited gives its end), or took too long.
func waitUntilServed(exited <-chan error, logPath string) (string, error) {
	var s state
	var ended error
	processEnded := false
	err := poll.Until(context.Background(), 5*time.Minute, "the lab is ready", func() (bool, string) {
		if s, _ = readState(); s.Ready || s.Error != "" {
			return true, ""
		}
		select {
		case ended = <-exited:
			processEnded = true
			return true, ""
		default:
			return false, ""
		}
	})
	switch {
	case s.Ready:
		summary, err := os.ReadFile(summaryPath())
		return string(summary), err
	case s.Error != "":
		return "", fmt.Errorf("the lab failed: %s (log: %s)", s.Error, logPath)
	case processEnded:
		return "", fmt.Errorf("the lab process ended (%v); see %s", ended, logPath)
	}
	return "", fmt.Errorf("%w; see %s", err, logPath)
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
	err := poll.Until(context.Background(), 2*time.Minute, fmt.Sprintf("lab process %d stops", s.PID), func() (bool, string) {
		return !processAlive(s.PID), ""
	})
	if err != nil {
		return "", err
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
	st := state{PID: os.Getpid(), Options: opts}
	if err := writeState(st); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			st.Error = err.Error()
			_ = writeState(st)
		}
	}()
	// The sample BGPPeer uses the sample BFD profile, so the router runs
	// BFD; gobgpd has none, and demo takes the profile off the peer.
	cfg := Config{Nodes: opts.Nodes, BinDir: opts.BinDir, Router: opts.Router, Neighbours: opts.Neighbours,
		BFD:  opts.Router != "gobgp",
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
	st.RouterNS, st.ClientNS = l.Prefix+"-router", l.ClientNS
	for _, n := range l.Nodes {
		st.NodeNS = append(st.NodeNS, n.NS)
	}
	st.MetricsToken, st.ControllerMetrics = l.scraperToken, l.controllerMetricsAddr
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
	svc, err := l.applySamples(ctx, opts, st)
	if err != nil {
		return "", err
	}
	want := 1
	if opts.IPv6 {
		want = 2
	}
	addrs, err := l.waitForSample(ctx, svc, want)
	if err != nil {
		return "", err
	}
	return l.summary(ctx, opts, addrs), nil
}

// applySamples applies the samples, fitted to the router and the IP
// families of the options, and gives their Service default/web a ready
// endpoint on every node.
func (l *Lab) applySamples(ctx context.Context, opts SessionOptions, st state) (*corev1.Service, error) {
	out, err := exec.Command(st.Kubectl, "--kubeconfig", l.Kubeconfig, "apply", "-f", opts.Samples).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("apply samples: %w: %s", err, out)
	}
	if opts.Router == "gobgp" {
		if err := l.dropBFD(ctx); err != nil {
			return nil, err
		}
	}
	svc := &corev1.Service{}
	if err := l.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "web"}, svc); err != nil {
		return nil, fmt.Errorf("the samples have no Service default/web: %w", err)
	}
	if !opts.IPv6 {
		// The sample asks for dual-stack; with IPv6 off it keeps IPv4 only.
		// The controller may be writing the Service's status meanwhile.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := l.Client.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
				return err
			}
			svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
			svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
			return l.Client.Update(ctx, svc)
		})
		if err != nil {
			return nil, fmt.Errorf("make the sample Service IPv4-only: %w", err)
		}
	}
	endpoints := map[string][]EndpointState{}
	for _, n := range l.Nodes {
		endpoints[n.Name] = []EndpointState{Ready}
	}
	if err := l.SetEndpoints(ctx, svc, endpoints); err != nil {
		return nil, err
	}
	return svc, nil
}

// waitForSample waits until the sample Service has want addresses and the
// router a route to each with every node as next hop, and returns them.
func (l *Lab) waitForSample(ctx context.Context, svc *corev1.Service, want int) ([]netip.Addr, error) {
	var addrs []netip.Addr
	if err := poll.Until(ctx, 60*time.Second, "the sample Service gets its addresses", func() (bool, string) {
		addrs = nil
		if err := l.Client.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
			return false, err.Error()
		}
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(in.IP); err == nil {
				addrs = append(addrs, a)
			}
		}
		return len(addrs) == want, fmt.Sprint(addrs)
	}); err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if err := poll.Until(ctx, 60*time.Second, "the router has a route with every node as next hop", func() (bool, string) {
			hops, err := l.Router.KernelNextHops(netip.PrefixFrom(a, a.BitLen()))
			return err == nil && len(hops) == len(l.Nodes), fmt.Sprint(hops, err)
		}); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

// summary tells a person what the lab runs, how traffic to addrs spreads
// and how to use the lab from their shell.
func (l *Lab) summary(ctx context.Context, opts SessionOptions, addrs []netip.Addr) string {
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
		b.WriteString(trafficSummary(ctx, l, a, 300))
	}
	fmt.Fprintf(&b, "\nUse the lab from your shell: this points kubectl, bgplbctl and kubectl bgplb at it,\n")
	fmt.Fprintf(&b, "and names its namespaces $LAB_ROUTER, $LAB_CLIENT, $LAB_NODE0... and its folder $LAB_DIR:\n")
	fmt.Fprintf(&b, "  eval \"$(%s env)\"\n", filepath.Join(opts.BinDir, "bgplb-lab"))
	fmt.Fprintf(&b, "Then, for example:\n")
	fmt.Fprintf(&b, "  bgplbctl status\n")
	fmt.Fprintf(&b, "  kubectl get svc,ippools,bgppeers -A\n")
	fmt.Fprintf(&b, "  %s\n", routerShowCommand(opts.Router))
	fmt.Fprintf(&b, "  ip -n $LAB_ROUTER route\n")
	fmt.Fprintf(&b, "  ip netns exec $LAB_CLIENT bash -c 'head -1 < /dev/tcp/%s/%d'   (which node and pod answer?)\n", addrs[0], ResponderPort)
	fmt.Fprintf(&b, "Logs and the router's configuration: %s\n", l.Dir)
	fmt.Fprintf(&b, "Stop and remove everything: make lab-down\n")
	return b.String()
}

// dropBFD takes the BFD profile off every BGPPeer, for a router without
// BFD: a peer that asks for BFD which never comes up is a problem that
// bgplbctl status rightly lists.
func (l *Lab) dropBFD(ctx context.Context) error {
	var peers v1alpha1.BGPPeerList
	if err := l.Client.List(ctx, &peers); err != nil {
		return fmt.Errorf("list BGPPeers: %w", err)
	}
	for i := range peers.Items {
		p := &peers.Items[i]
		if p.Spec.BFDProfile == "" {
			continue
		}
		p.Spec.BFDProfile = ""
		if err := l.Client.Update(ctx, p); err != nil {
			return fmt.Errorf("take the BFD profile off BGPPeer %s: %w", p.Name, err)
		}
	}
	return nil
}

// routerShowCommand is the command that shows a router's BGP table, in
// the environment Env sets.
func routerShowCommand(router string) string {
	switch router {
	case "bird":
		return "birdc -s $LAB_DIR/bird/bird.ctl show route all"
	case "gobgp":
		return "ip netns exec $LAB_ROUTER gobgp global rib"
	default:
		return "ip netns exec $LAB_ROUTER vtysh -N $LAB_ROUTER -c 'show bgp ipv4 unicast'"
	}
}

// Env returns the shell commands (for eval) that point a shell at the
// running lab: KUBECONFIG, a PATH with the lab's kubectl, bgplbctl and
// the kubectl plugin first, and variables naming its namespaces, folder
// and a token that may read the metrics.
func Env() (string, error) {
	s, alive := readState()
	if !alive || !s.Ready {
		return "", errors.New("no lab is running; start one with make lab")
	}
	vars := [][2]string{
		{"KUBECONFIG", shellQuote(s.Kubeconfig)},
		{"PATH", shellQuote(s.Options.BinDir+":"+filepath.Dir(s.Kubectl)) + `:"$PATH"`},
		{"LAB_ROUTER", shellQuote(s.RouterNS)},
		{"LAB_CLIENT", shellQuote(s.ClientNS)},
	}
	for i, ns := range s.NodeNS {
		vars = append(vars, [2]string{fmt.Sprintf("LAB_NODE%d", i), shellQuote(ns)})
	}
	vars = append(vars,
		[2]string{"LAB_DIR", shellQuote(s.Dir)},
		[2]string{"LAB_CONTROLLER_METRICS", shellQuote("https://" + s.ControllerMetrics + "/metrics")},
		[2]string{"LAB_METRICS_TOKEN", shellQuote(s.MetricsToken)},
	)
	var b strings.Builder
	for _, v := range vars {
		fmt.Fprintf(&b, "export %s=%s\n", v[0], v[1])
	}
	return b.String(), nil
}

// shellQuote quotes s as one word for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// trafficSummary opens n connections from the client to addr and says
// which node received them (the router's hash) and which pod served them
// (kube-proxy's choice), side by side.
func trafficSummary(ctx context.Context, l *Lab, addr netip.Addr, n int) string {
	byNode, byPod := map[string]int{}, map[string]int{}
	podNode := map[string]string{}
	failed := 0
	for range n {
		a, err := l.Ask(ctx, addr)
		if err != nil {
			failed++
			continue
		}
		byNode[a.Node]++
		byPod[a.Pod]++
		podNode[a.Pod] = a.PodNode
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nTraffic: %d connections from the client to %s,\n", n, netip.AddrPortFrom(addr, ResponderPort))
	fmt.Fprintf(&b, "received by each node (the router's ECMP) and served by each pod (kube-proxy):\n")
	nodes, pods := slices.Sorted(maps.Keys(byNode)), slices.Sorted(maps.Keys(byPod))
	for i := range max(len(nodes), len(pods)) {
		left, right := "", ""
		if i < len(nodes) {
			left = fmt.Sprintf("%-8s %3d", nodes[i], byNode[nodes[i]])
		}
		if i < len(pods) {
			right = fmt.Sprintf("%-32s %3d", pods[i]+" on "+podNode[pods[i]], byPod[pods[i]])
		}
		fmt.Fprintf(&b, "  %-12s   %s\n", left, right)
	}
	if failed > 0 {
		fmt.Fprintf(&b, "  failed   %3d\n", failed)
	}
	return b.String()
}
