// Command speaker runs on every node, peers with the configured BGP routers
// and announces the node's share of Service addresses.
package main

import (
	// Change windows name IANA time zones; the binary carries the zone
	// database, as container images often do not.
	_ "time/tzdata"

	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/bgplb/bgplb/internal/bgp/gobgp"
	"github.com/bgplb/bgplb/internal/datapath"
	"github.com/bgplb/bgplb/internal/director"
	"github.com/bgplb/bgplb/internal/k8s/speaker"
	"github.com/bgplb/bgplb/internal/nodeprobe"
	"github.com/bgplb/bgplb/internal/version"
)

func main() {
	opts := speaker.Options{}
	var qps float64
	var burst int
	flag.StringVar(&opts.NodeName, "node-name", os.Getenv("NODE_NAME"), "name of this node (default $NODE_NAME)")
	flag.StringVar(&opts.Namespace, "namespace", envOr("POD_NAMESPACE", "bgplb-system"), "namespace of the speaker, where peer password Secrets live")
	flag.StringVar(&opts.Metrics.Addr, "metrics-bind-address", ":7474", "metrics listen address; 0 turns it off")
	metricsSecure := flag.Bool("metrics-secure", true, "serve metrics over HTTPS to clients whose token may get /metrics (role bgplb-metrics-reader); false serves plain HTTP to anyone")
	flag.StringVar(&opts.Metrics.CertDir, "metrics-cert-dir", "", "directory with the metrics serving certificate and key as tls.crt and tls.key; empty generates a self-signed certificate at start")
	flag.StringVar(&opts.HealthAddr, "health-probe-bind-address", ":7475", "health probe listen address (plain HTTP without authentication, as kubelet probes it; never serves metrics); 0 turns it off")
	flag.StringVar(&opts.PprofAddr, "pprof-bind-address", "0", "Go profiler listen address (keep it private); 0 turns it off")
	flag.Float64Var(&qps, "kube-api-qps", 50, "queries per second to the API server")
	flag.IntVar(&burst, "kube-api-burst", 100, "burst of queries to the API server")
	var shutdownGrace time.Duration
	flag.BoolVar(&opts.CheckPermissions, "check-permissions", true, "before starting, ask the API server whether this speaker has every permission it needs, and wait (not ready, logging what is missing) until it has")
	flag.DurationVar(&shutdownGrace, "shutdown-grace", 60*time.Second, "on SIGTERM, how long a draining node may keep announcing before it withdraws everything (keep it below the pod's terminationGracePeriodSeconds)")
	uplinks := flag.String("director-uplinks", "", "comma-separated interfaces that packets from the routers arrive on, where the director forwards them to their flow owners; empty means the interface holding the node's address")
	tunnelPort := flag.Uint("director-tunnel-port", datapath.DefaultTunnelPort, "UDP port of the director's VXLAN tunnel between nodes (keep it open between nodes, and closed to anyone else)")
	probeInterval := flag.Duration("director-probe-interval", nodeprobe.DefaultInterval, "how often the director pings each other node of its tables (it needs CAP_NET_RAW); 0 trusts the nodes' status objects alone")
	probeMisses := flag.Int("director-probe-misses", nodeprobe.DefaultMisses, "how many pings a node may leave unanswered in a row before it owns no connection")
	pinDir := flag.String("director-pin-dir", datapath.DefaultPinDir, "directory on a bpf filesystem (bpffs) where the director's datapath is pinned, so that it keeps forwarding while the speaker restarts and the next speaker takes it over; made if missing")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Get().Line("speaker"))
		return
	}
	opts.Metrics.Insecure = !*metricsSecure
	if *tunnelPort == 0 || *tunnelPort > 65535 {
		fmt.Fprintf(os.Stderr, "--director-tunnel-port %d is not a UDP port (1 to 65535)\n", *tunnelPort)
		os.Exit(2)
	}
	opts.OpenDatapath = openDatapath(splitList(*uplinks), uint16(*tunnelPort), *pinDir)
	if *probeInterval > 0 {
		opts.Liveness = nodeprobe.New(nodeprobe.Options{Interval: *probeInterval, Misses: *probeMisses})
	}
	// Events about missing permissions are about the speaker's Pod, named
	// through the downward API.
	opts.PodName, opts.PodUID = os.Getenv("POD_NAME"), types.UID(os.Getenv("POD_UID"))

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", opts.NodeName)
	opts.Logger = logger
	ctrl.SetLogger(logr.FromSlogHandler(logger.Handler()))

	cfg, err := ctrl.GetConfig()
	if err != nil {
		fail(logger, fmt.Errorf("load kubeconfig: %w", err))
	}
	cfg.QPS, cfg.Burst = float32(qps), burst
	engine := gobgp.New(logger)
	logger.Info("starting speaker", "version", version.Get().Version)
	// Run ends the sessions on the way out: for graceful restart, or after
	// finishing the drain of a draining node.
	if err := speaker.Run(ctrl.SetupSignalHandler(), cfg, engine, opts, shutdownGrace); err != nil {
		fail(logger, err)
	}
}

// openDatapath opens the node's director datapath when a pool asks for it.
func openDatapath(uplinks []string, port uint16, pinDir string) director.Opener {
	return func(tunnel netip.Addr) (director.Datapath, error) {
		device := datapath.DefaultTunnelDevice()
		device.DestinationPort = port
		return datapath.Open(datapath.Options{TunnelAddress: tunnel, Uplinks: uplinks, Device: device, PinDir: pinDir})
	}
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func fail(logger *slog.Logger, err error) {
	logger.Error(err.Error())
	os.Exit(1)
}
