// Command controller assigns external addresses to Services of type
// LoadBalancer from bgplb IPPools.
package main

import (
	// Change windows name IANA time zones; the binary carries the zone
	// database, as container images often do not.
	_ "time/tzdata"

	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/bgplb/bgplb/internal/k8s/controller"
	"github.com/bgplb/bgplb/internal/version"
)

func main() {
	var opts controller.Options
	var qps float64
	var burst int
	flag.StringVar(&opts.LoadBalancerClass, "lb-class", "", "spec.loadBalancerClass of the Services to serve; empty serves Services without a class")
	flag.StringVar(&opts.SpeakerNamespace, "speaker-namespace", "bgplb-system", "namespace of the speakers, where peer password Secrets live")
	flag.BoolVar(&opts.CheckPasswordSecrets, "check-password-secrets", false, "read which keys the Secrets of the speakers' namespace have, to show a missing password Secret on the peer's condition (needs read access to those Secrets)")
	flag.BoolVar(&opts.LeaderElection, "leader-elect", true, "elect one active replica through a Lease")
	flag.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", "bgplb-system", "namespace of the leader election Lease")
	flag.DurationVar(&opts.LeaseDuration, "lease-duration", 0, "leader election lease duration (0: default 15s)")
	flag.DurationVar(&opts.RenewDeadline, "renew-deadline", 0, "leader election renew deadline (0: default 10s)")
	flag.DurationVar(&opts.RetryPeriod, "retry-period", 0, "leader election retry period (0: default 2s)")
	flag.StringVar(&opts.Metrics.Addr, "metrics-bind-address", ":7472", "metrics listen address; 0 turns it off")
	metricsSecure := flag.Bool("metrics-secure", true, "serve metrics over HTTPS to clients whose token may get /metrics (role bgplb-metrics-reader); false serves plain HTTP to anyone")
	flag.StringVar(&opts.Metrics.CertDir, "metrics-cert-dir", "", "directory with the metrics serving certificate and key as tls.crt and tls.key; empty generates a self-signed certificate at start")
	flag.StringVar(&opts.HealthAddr, "health-probe-bind-address", ":7473", "health probe listen address (plain HTTP without authentication, as kubelet probes it; never serves metrics); 0 turns it off")
	flag.StringVar(&opts.PprofAddr, "pprof-bind-address", "0", "Go profiler listen address (keep it private); 0 turns it off")
	flag.BoolVar(&opts.CheckPermissions, "check-permissions", true, "before starting, ask the API server whether this controller has every permission it needs, and wait (not ready, logging what is missing) until it has")
	flag.Float64Var(&qps, "kube-api-qps", 200, "queries per second to the API server")
	flag.IntVar(&burst, "kube-api-burst", 400, "burst of queries to the API server")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Get().Line("controller"))
		return
	}
	opts.Metrics.Insecure = !*metricsSecure

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctrl.SetLogger(logr.FromSlogHandler(logger.Handler()))
	opts.Logger = logger
	// Events about missing permissions are about the controller's Pod,
	// named through the downward API.
	opts.PodNamespace, opts.PodName, opts.PodUID = os.Getenv("POD_NAMESPACE"), os.Getenv("POD_NAME"), types.UID(os.Getenv("POD_UID"))

	cfg, err := ctrl.GetConfig()
	if err != nil {
		fail(logger, fmt.Errorf("load kubeconfig: %w", err))
	}
	cfg.QPS, cfg.Burst = float32(qps), burst
	mgr, err := controller.NewManager(cfg, opts)
	if err != nil {
		fail(logger, err)
	}
	logger.Info("starting controller", "version", version.Get().Version, "lbClass", opts.LoadBalancerClass, "leaderElection", opts.LeaderElection)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		fail(logger, fmt.Errorf("run controller: %w", err))
	}
}

func fail(logger *slog.Logger, err error) {
	logger.Error(err.Error())
	os.Exit(1)
}
