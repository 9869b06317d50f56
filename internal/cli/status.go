package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
)

func statusCommand() *command {
	return &command{
		name:    "status",
		summary: "Show BGP sessions, which nodes announce each Service and why others do not, and pool usage.",
		action:  runStatus,
	}
}

const statusHelp = `Usage: %[1]s [flags]

Reads bgplb's state from the API server and prints four tables:

Nodes     every node: its Established BGP sessions and, in NOTES, what
          keeps it from announcing as usual: no speaker status (no
          BGPNodeStatus from the node), no BGP session, and the drains
          that take it out on purpose, which are not problems:
            excluded (label node.kubernetes.io/exclude-from-external-load-balancers)
            draining (annotation bgplb.io/drain)
            cordoned (advertisement A drains on cordon): spec.unschedulable
                drains the paths of the BGPAdvertisements with
                drainOnCordon that apply to the node; without one a
                cordon changes nothing, and NOTES says so.
Sessions  every BGP session of every node (from the BGPNodeStatus objects
          the speakers write): state, time in that state (UP/DOWN, the
          uptime of an Established session), prefixes sent and BFD state
          (both "-" while the session is down), whether graceful restart
          was negotiated (GR) and the last error; then each configuration
          object the speakers refuse, once, with the nodes refusing it (or
          "every node"). An Established session whose peer asks for BFD
          and whose BFD session is not Up is a problem.
Services  every LoadBalancer Service bgplb serves (see --lb-class): its
          addresses, pool, externalTrafficPolicy and the nodes announcing
          it. A Service without an address shows <pending> and why, from
          the controller's AllocationFailed Event, and is a problem. For
          a Service with an address: nodes holding back an addition, with
          the time they will announce; every other node and why it does
          not announce:
            no ready endpoint   for a Local Service, no ready endpoint of
                                the Service on the node; for a Cluster
                                Service, none anywhere
            excluded, draining, cordoned
                                the drains of the Nodes table; a cordon
                                only when an advertisement that drains on
                                cordon announces the Service
            no speaker status   no BGPNodeStatus from the node
            held until TIME     an addition held back by additionHold
          A Service that no node announces is flagged.
Pools     addresses assigned of each pool and family, and whether the pool
          is accepted.

The exit status is 0 whatever the report says (it is a report: read the
problems at its end, or "healthy" in the JSON), and 1 when the API server
cannot be read.

The kubeconfig is --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else
the in-cluster configuration.

Examples:
  %[1]s
  %[1]s -n shop -o json | jq '.services[] | select(.announced | not)'

Flags:
`

// statusRequestTimeout bounds each read from the API server, so that an
// unreachable one fails the command rather than hanging it.
const statusRequestTimeout = 30 * time.Second

func runStatus(path string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var output, namespace string
	fs.StringVar(&output, "o", "text", "output `FORMAT`: text or json")
	fs.StringVar(&output, "output", "text", "output `FORMAT`: text or json (same as -o)")
	fs.StringVar(&namespace, "n", "", "show the Services of `NAMESPACE` only (default: every namespace)")
	fs.StringVar(&namespace, "namespace", "", "show the Services of `NAMESPACE` only (same as -n)")
	lbClass := fs.String("lb-class", "", "spec.loadBalancerClass `CLASS` of the Services bgplb serves, the controller's --lb-class (default: Services without a class)")
	color := fs.String("color", string(colorAuto), "color the text output: `WHEN` auto (on a terminal), always or never")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig `FILE` (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
	kubeContext := fs.String("context", "", "kubeconfig `CONTEXT` to use (default: its current context)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, statusHelp, path)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return exitOK
		}
		return usageError(stderr, path, err)
	}
	if fs.NArg() > 0 {
		return usageError(stderr, path, fmt.Errorf("unexpected argument %q: every input is a flag", fs.Arg(0)))
	}
	if output != "text" && output != "json" {
		return usageError(stderr, path, fmt.Errorf("-o %q: want text or json", output))
	}
	switch colorMode(*color) {
	case colorAuto, colorAlways, colorNever:
	default:
		return usageError(stderr, path, fmt.Errorf("--color %q: want auto, always or never", *color))
	}

	cfg, err := loadRESTConfig(*kubeconfig, *kubeContext)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		return exitFailure
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*statusRequestTimeout)
	defer cancel()
	in, err := gatherStatus(ctx, cfg, namespace, *lbClass)
	if err != nil {
		fmt.Fprintf(stderr, "%s: cannot read bgplb's state from the API server at %s: %v\n", path, cfg.Host, err)
		return exitFailure
	}
	report := buildReport(in)
	if output == "json" {
		err = writeStatusJSON(stdout, report)
	} else {
		err = writeStatusText(stdout, report, useColor(colorMode(*color), stdout))
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: write output: %v\n", path, err)
		return exitFailure
	}
	return exitOK
}

// loadRESTConfig finds the kubeconfig the way kubectl does: the explicit
// file, else $KUBECONFIG, else ~/.kube/config, else in-cluster.
func loadRESTConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	cfg, err := loader.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, errors.New("no kubeconfig found: pass --kubeconfig, set $KUBECONFIG or write ~/.kube/config (or run inside a cluster)")
		}
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.Timeout == 0 {
		cfg.Timeout = statusRequestTimeout
	}
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

// gatherStatus reads every object status reports on.
func gatherStatus(ctx context.Context, cfg *rest.Config, namespace, lbClass string) (statusInputs, error) {
	// controller-runtime complains on stderr when something logs before a
	// logger is set; a command that only reads has nothing to log. Only
	// the first call sets the logger, so a second run changes nothing.
	ctrllog.SetLogger(logr.Discard())
	in := statusInputs{Namespace: namespace, LoadBalancerClass: lbClass}
	scheme, err := kubeutil.Scheme()
	if err != nil {
		return in, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return in, err
	}
	var (
		nodeStatuses v1alpha1.BGPNodeStatusList
		nodes        corev1.NodeList
		services     corev1.ServiceList
		slices       discoveryv1.EndpointSliceList
		pools        v1alpha1.IPPoolList
		peers        v1alpha1.BGPPeerList
		ads          v1alpha1.BGPAdvertisementList
		events       eventsv1.EventList
	)
	reads := []struct {
		what string
		list client.ObjectList
		opts []client.ListOption
	}{
		{"BGPNodeStatuses", &nodeStatuses, nil},
		{"Nodes", &nodes, nil},
		{"Services", &services, []client.ListOption{client.InNamespace(namespace)}},
		{"EndpointSlices", &slices, []client.ListOption{client.InNamespace(namespace), client.HasLabels{discoveryv1.LabelServiceName}}},
		{"IPPools", &pools, nil},
		{"BGPPeers", &peers, nil},
		{"BGPAdvertisements", &ads, nil},
		// Only the Events that say why a Service has no address, which
		// the API server picks out of what may be many.
		{"Events", &events, []client.ListOption{client.InNamespace(namespace), client.MatchingFields{
			"reason": v1alpha1.EventReasonAllocationFailed, "reportingController": v1alpha1.EventReportingController}}},
	}
	for _, r := range reads {
		if err := c.List(ctx, r.list, r.opts...); err != nil {
			return in, listError(r.what, err)
		}
	}
	in.Now = time.Now()
	in.NodeStatuses, in.Nodes, in.Services, in.EndpointSlices, in.Pools = nodeStatuses.Items, nodes.Items, services.Items, slices.Items, pools.Items
	in.Peers, in.Advertisements, in.Events = peers.Items, ads.Items, events.Items
	return in, nil
}

// listError says which list failed, with a hint for the usual causes.
func listError(what string, err error) error {
	switch {
	case meta.IsNoMatchError(err):
		return fmt.Errorf("list %s: the API server does not serve them (are bgplb's CRDs installed?): %w", what, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("list %s: not allowed (status needs to list BGPNodeStatuses, IPPools, BGPPeers, BGPAdvertisements, Nodes, Services, EndpointSlices and events.k8s.io Events): %w", what, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("list %s: the credentials were refused: %w", what, err)
	}
	return fmt.Errorf("list %s: %w", what, err)
}
