// Package lab builds a BGP load-balancing lab from network namespaces: a
// router (FRR, BIRD or GoBGP), nodes running the real speaker binary, a
// client, the API server and the real controller on a management network,
// kube-proxy on every node, and pods (network namespaces on each node's
// pod bridge) whose responder says which node received a connection and
// which pod served it.
// Everything it creates carries a per-run prefix and is removed by Close.
package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
	"github.com/bgplb/bgplb/internal/k8s/testenv"
)

// Addresses of the lab, per DESIGN.md.
const (
	RouterASN = 64500
	// NodeASN is the nodes' AS for eBGP labs; see Lab.NodeASN.
	NodeASN    = 64512
	RouterLAN4 = "198.18.0.1"
	// NodeLAN4 is the LAN the nodes peer from, which a router with
	// dynamic neighbours accepts sessions from.
	NodeLAN4   = "198.18.0.0/24"
	RouterLAN6 = "2001:db8:1::1"
	ClientAddr = "198.18.2.2"
	ClientV6   = "2001:db8:2::2"
)

// Config says what lab to build.
type Config struct {
	Nodes int // default 3
	// BinDir holds the controller and speaker binaries.
	BinDir string
	// Logf receives progress lines; nil is quiet.
	Logf func(format string, args ...any)
	// IBGP puts the nodes in the router's AS, so sessions are iBGP.
	IBGP bool
	// RouterPassword, if set, is the TCP-MD5 password the router expects
	// from every node.
	RouterPassword string
	// Router is "frr" (the default), "bird" or "gobgp".
	Router string
	// Neighbours is how the router knows the nodes: StaticNeighbours (the
	// default) names each node's address; DynamicNeighbours accepts a
	// session from any address of the LAN, as most users configure their
	// routers (FRR's bgp listen range, BIRD's neighbor range, GoBGP's
	// dynamic neighbours).
	Neighbours string
	// LogUpdates makes FRR log every received prefix with a microsecond
	// timestamp, for latency measurements.
	LogUpdates bool
	// RouterWithoutGracefulRestart makes the FRR router offer no
	// graceful restart capability.
	RouterWithoutGracefulRestart bool
	// BFD runs BFD on the router (FRR's bfdd, BIRD's bfd protocol) with
	// 3 x 100 ms timers for every node; gobgpd has no BFD.
	BFD bool
	// Pprof makes the controller and every speaker serve Go's profiler on
	// PprofAddr, the controller in the root namespace and each speaker in
	// its node's namespace.
	Pprof bool
	// RouterHashing is how the FRR router's kernel spreads flows over a
	// multipath route's next hops: HashThreshold ("", the default) uses
	// the routes FRR installs; Resilient mirrors each into a resilient
	// nexthop group tuned by Resilient (see resilient.go).
	RouterHashing string
	Resilient     ResilientOptions
	// ProxyMode is kube-proxy's mode on every node: ProxyNftables (the
	// default) or ProxyIptables.
	ProxyMode string
	// Director runs every speaker with the capabilities the director's
	// datapath needs (directorCapabilities), as the chart does when its
	// director is turned on, and with a pin directory of its own on the
	// lab's bpf filesystem (see pins.go). The director itself is turned
	// on per pool.
	Director bool
}

// Values of Config.Neighbours.
const (
	StaticNeighbours  = "static"
	DynamicNeighbours = "dynamic"
)

// PprofAddr is where the lab's daemons serve Go's profiler when
// Config.Pprof is set.
const PprofAddr = "127.0.0.1:6060"

// Router is the lab's router as tests see it.
type Router interface {
	// Established returns the addresses of the neighbours whose session is
	// Established, sorted.
	Established() ([]string, error)
	// BGPPaths returns the paths of one prefix in the router's BGP table.
	BGPPaths(prefix netip.Prefix) ([]RIBPath, error)
	// KernelNextHops returns the gateways of the router's kernel route for
	// prefix, sorted.
	KernelNextHops(prefix netip.Prefix) ([]string, error)
	stop() error
}

// NodeASN is the AS number the nodes must use towards the router.
func (l *Lab) NodeASN() int64 {
	if l.cfg.IBGP {
		return RouterASN
	}
	return NodeASN
}

// Node is one lab node.
type Node struct {
	Name  string
	NS    string
	Addr4 netip.Addr
	Addr6 netip.Addr
	// PodCIDR4 and PodCIDR6 hold the addresses of the node's pods.
	PodCIDR4, PodCIDR6 netip.Prefix
	// mgmtAddr is the node's address on the management network.
	mgmtAddr netip.Addr
	speaker  *process
	proxy    *process
	stop     func()
	// lanPeer is the bridge side of the node's LAN link.
	lanPeer string
	// kubeconfig holds the speaker's identity: its ServiceAccount, bound
	// to this node.
	kubeconfig string
}

// Lab is a running lab.
type Lab struct {
	Prefix     string
	Dir        string
	Kubeconfig string
	Client     client.WithWatch
	Router     Router
	Nodes      []*Node
	ClientNS   string

	cfg        Config
	env        *testenv.Env
	controller *process
	// controllerKubeconfig holds the controller's identity; Kubeconfig
	// is the administrator's, for tests and bgplbctl.
	controllerKubeconfig string
	// scraperToken may read the speakers' and the controller's metrics.
	scraperToken string
	// controllerMetricsAddr is where the controller serves its metrics.
	controllerMetricsAddr string
	mgmtBridge            string
	lanBridge             string
	pods                  *podRegistry
	// hashing is the FRR router's hashing mode (nil with another router).
	hashing  *routerHashing
	mu       sync.Mutex
	cleanups []func() error
	// release removes the lab's record in RunsDir once Close has removed
	// the lab; after a failed cleanup the record stays, and the first run
	// after this process has ended reaps what is left.
	release func() error
}

func (l *Lab) logf(format string, args ...any) {
	if l.cfg.Logf != nil {
		l.cfg.Logf(format, args...)
	}
}

// onClose registers an undo step; Close runs them in reverse order.
func (l *Lab) onClose(fn func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cleanups = append(l.cleanups, fn)
}

// Start builds and starts a lab. On error everything made so far is
// removed.
func Start(ctx context.Context, cfg Config) (_ *Lab, err error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := ReapStale(cfg.Logf); err != nil && cfg.Logf != nil {
		// What a dead lab left does not keep this one from starting.
		cfg.Logf("removing what earlier labs left: %v", err)
	}
	prefix, release, err := claimRun(RunsDir)
	if err != nil {
		return nil, fmt.Errorf("claim a lab prefix: %w", err)
	}
	l := &Lab{cfg: cfg, Prefix: prefix, pods: newPodRegistry(), release: release}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Close())
		}
	}()
	if err := l.makeDir(); err != nil {
		return nil, err
	}
	if cfg.Director {
		if err := l.mountPins(); err != nil {
			return nil, err
		}
	}

	mgmt, err := l.pickManagementSubnet()
	if err != nil {
		return nil, err
	}
	if err := l.buildNetwork(mgmt); err != nil {
		return nil, fmt.Errorf("build network: %w", err)
	}
	l.logf("network %s built: router, %d nodes, client", l.Prefix, cfg.Nodes)

	if err := l.startRouter(); err != nil {
		return nil, err
	}

	l.controllerMetricsAddr = netip.AddrPortFrom(mgmt.Addr().Next(), ControllerMetricsPort).String()
	if err := l.startAPIServer(mgmt.Addr().Next()); err != nil {
		return nil, err
	}
	l.onClose(l.stopPods)
	if err := l.registerNodes(ctx); err != nil {
		return nil, err
	}
	if err := l.installAccess(ctx); err != nil {
		return nil, err
	}
	if err := l.writeComponentKubeconfigs(ctx); err != nil {
		return nil, err
	}
	if err := l.startKubeProxies(ctx); err != nil {
		return nil, err
	}
	if err := l.startStandIns(); err != nil {
		return nil, err
	}
	if err := l.startController(); err != nil {
		return nil, err
	}
	for _, n := range l.Nodes {
		if err := l.StartSpeaker(n); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// makeDir makes the lab's directory, which Close removes.
func (l *Lab) makeDir() (err error) {
	if l.Dir, err = os.MkdirTemp("", "bgplb-lab-"+l.Prefix+"-"); err != nil {
		return err
	}
	l.onClose(func() error { return os.RemoveAll(l.Dir) })
	// FRR's daemons run as the frr user, and the controller and speakers
	// as the chart's user, and read their files from here; each file's own
	// mode keeps the others' kubeconfigs out.
	return os.Chmod(l.Dir, 0o755)
}

// startRouter starts the configured router and sets up how its kernel
// hashes flows over a route's next hops.
func (l *Lab) startRouter() error {
	var err error
	switch l.cfg.Router {
	case "", "frr":
		l.Router, err = startFRR(l)
	case "bird":
		l.Router, err = startBIRD(l)
	case "gobgp":
		l.Router, err = startGoBGP(l)
	default:
		err = fmt.Errorf("unknown router %q (want frr, bird or gobgp)", l.cfg.Router)
	}
	if err != nil {
		return fmt.Errorf("start router: %w", err)
	}
	l.onClose(l.Router.stop)
	if err := l.startRouterHashing(); err != nil {
		return fmt.Errorf("router hashing: %w", err)
	}
	return l.hashHeadersAtRouter()
}

// check says what in the configuration the lab cannot build: an unknown
// kind of neighbours or kube-proxy mode, or binaries the components'
// user cannot run.
func (cfg Config) check() error {
	switch cfg.Neighbours {
	case "", StaticNeighbours, DynamicNeighbours:
	default:
		return fmt.Errorf("unknown kind of neighbours %q (want %s or %s)", cfg.Neighbours, StaticNeighbours, DynamicNeighbours)
	}
	switch cfg.ProxyMode {
	case "", ProxyNftables, ProxyIptables:
	default:
		return fmt.Errorf("unknown kube-proxy mode %q (want %s or %s)", cfg.ProxyMode, ProxyNftables, ProxyIptables)
	}
	for _, bin := range []string{"controller", "speaker"} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, bin)); err != nil {
			return fmt.Errorf("lab needs the %s binary in %s (make build): %w", bin, cfg.BinDir, err)
		}
		check := asChartUser(nil, "test", "-x", filepath.Join(cfg.BinDir, bin))
		if out, err := exec.Command(check[0], check[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("user %d cannot run %s in %s, as the lab's components run as that user: %v %s", chartUID, bin, cfg.BinDir, err, out)
		}
	}
	return nil
}

// Close stops every process and removes every namespace, link and file of
// the lab. It is safe to call more than once.
func (l *Lab) Close() error {
	l.mu.Lock()
	cleanups, release := l.cleanups, l.release
	l.cleanups, l.release = nil, nil
	l.mu.Unlock()
	var errs []error
	for i := len(cleanups) - 1; i >= 0; i-- {
		if err := cleanups[i](); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && release != nil {
		errs = append(errs, release())
	}
	return errors.Join(errs...)
}

func (l *Lab) startAPIServer(listen netip.Addr) error {
	env, err := testenv.StartWith(testenv.Options{ListenAddress: listen.String(), Name: l.Prefix})
	if err != nil {
		return err
	}
	l.env = env
	l.onClose(env.Stop)
	l.Kubeconfig = filepath.Join(l.Dir, "kubeconfig")
	if err := env.WriteKubeconfig(l.Kubeconfig); err != nil {
		return err
	}
	scheme, err := kubeutil.Scheme()
	if err != nil {
		return err
	}
	l.Client, err = client.NewWithWatch(env.Config, client.Options{Scheme: scheme})
	return err
}

// registerNodes creates the Node objects a kubelet would, with the lab
// addresses, the speakers' namespace and the default namespace's
// ServiceAccount.
func (l *Lab) registerNodes(ctx context.Context) error {
	if err := l.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}); err != nil {
		return err
	}
	// People create pods in the default namespace with kubectl.
	if err := l.ensureDefaultAccount(ctx, metav1.NamespaceDefault); err != nil {
		return err
	}
	for _, n := range l.Nodes {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: map[string]string{"kubernetes.io/hostname": n.Name}},
			// The pod CIDRs the controller-manager would allocate.
			Spec: corev1.NodeSpec{PodCIDR: n.PodCIDR4.String(), PodCIDRs: []string{n.PodCIDR4.String(), n.PodCIDR6.String()}},
		}
		if err := l.Client.Create(ctx, node); err != nil {
			return fmt.Errorf("create node %s: %w", n.Name, err)
		}
		node.Status.Addresses = []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: n.Addr4.String()},
			{Type: corev1.NodeInternalIP, Address: n.Addr6.String()},
			{Type: corev1.NodeHostName, Address: n.Name},
		}
		node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(), Reason: "Lab", Message: "lab node"}}
		if err := l.Client.Status().Update(ctx, node); err != nil {
			return fmt.Errorf("set status of node %s: %w", n.Name, err)
		}
	}
	return nil
}

func (l *Lab) startController() error {
	p, err := l.spawnDaemon("controller", asChartUser(nil, filepath.Join(l.cfg.BinDir, "controller"),
		"--kubeconfig", l.controllerKubeconfig, "--leader-elect=false",
		"--metrics-bind-address="+l.controllerMetricsAddr, "--health-probe-bind-address=0", l.pprofFlag())...)
	if err != nil {
		return err
	}
	l.controller = p
	return nil
}

func (l *Lab) pprofFlag() string {
	if l.cfg.Pprof {
		return "--pprof-bind-address=" + PprofAddr
	}
	return "--pprof-bind-address=0"
}

// StartSpeaker starts (or restarts) the speaker of a node inside its
// namespace.
func (l *Lab) StartSpeaker(n *Node) error {
	var caps, directorFlags []string
	if l.cfg.Director {
		caps = directorCapabilities()
		pins, err := l.pinDir(n)
		if err != nil {
			return err
		}
		directorFlags = append(directorFlags, "--director-pin-dir="+pins)
	}
	speaker := append([]string{filepath.Join(l.cfg.BinDir, "speaker"), "--kubeconfig", n.kubeconfig, "--node-name", n.Name,
		"--metrics-bind-address=" + SpeakerMetricsAddr, "--health-probe-bind-address=0", l.pprofFlag()}, directorFlags...)
	args := append([]string{"ip", "netns", "exec", n.NS}, withHostname(n.Name, asChartUser(caps, speaker...)...)...)
	p, err := l.spawnDaemon("speaker-"+n.Name, args...)
	if err != nil {
		return err
	}
	n.speaker = p
	return nil
}

// CutLink takes down the bridge side of a node's LAN link, as a failed
// cable or switch port would: nothing the node sends reaches the router
// any more, not even a FIN, and the router's own interface stays up. The
// returned function puts the link back.
func (l *Lab) CutLink(n *Node) (restore func() error, err error) {
	if err := ip("", "link", "set", n.lanPeer, "down"); err != nil {
		return nil, err
	}
	return func() error { return ip("", "link", "set", n.lanPeer, "up") }, nil
}

// SpeakerLog returns what a node's speaker has logged so far.
func (l *Lab) SpeakerLog(n *Node) string {
	data, _ := os.ReadFile(filepath.Join(l.Dir, "speaker-"+n.Name+".log"))
	return string(data)
}

// APIServerDir is the directory that names the lab's API server and etcd
// processes and holds their files.
func (l *Lab) APIServerDir() string { return l.env.Dir() }

// StopAPIServer stops the lab's kube-apiserver (etcd keeps its data) and
// returns a function that starts it again.
func (l *Lab) StopAPIServer() (restart func() error, err error) {
	return l.env.StopAPIServer()
}
