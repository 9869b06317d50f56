// Package speaker announces this node's Service addresses over BGP: it
// watches the node, Services, EndpointSlices and the bgplb configuration and
// drives a bgp.Engine.
package speaker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrlcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/director"
	"github.com/bgplb/bgplb/internal/k8s/access"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
)

// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// +kubebuilder:rbac:groups="",namespace=bgplb-system,resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups=bgplb.io,resources=ippools;bgppeers;bgpadvertisements;bfdprofiles,verbs=get;list;watch
// +kubebuilder:rbac:groups=bgplb.io,resources=bgpnodestatuses,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=bgplb.io,resources=bgpnodestatuses/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Options configures the speaker.
type Options struct {
	// NodeName is the node this speaker runs on.
	NodeName string
	// Namespace is where the speaker runs and reads peer password Secrets.
	Namespace string
	// Metrics says where and how metrics are served; its zero value
	// serves none.
	Metrics kubeutil.MetricsServing
	// MetricsRegistry receives the speaker's metrics; nil means
	// controller-runtime's metrics.Registry, the one the metrics server
	// serves. Each speaker needs a registry of its own: a second one
	// registering in the same registry fails.
	MetricsRegistry prometheus.Registerer
	// HealthAddr is the listen address of the health probes; "0" turns
	// them off. Kubelet probes them without credentials, so they are plain
	// HTTP, unauthenticated, and never serve metrics.
	HealthAddr string
	// PprofAddr serves Go's profiler when set; empty or "0" is off.
	PprofAddr string
	// Logger receives the speaker's own log lines.
	Logger *slog.Logger
	// Controllers holds controller-runtime's settings for the manager's
	// controller (manager.Options.Controller); its zero value keeps
	// controller-runtime's defaults. Several speakers in one process, as
	// tests run them, set SkipNameValidation here, since
	// controller-runtime refuses a second controller of the same name in
	// a process.
	Controllers config.Controller

	// CheckPermissions makes the speaker ask the API server, before it
	// starts watching anything, whether its identity has every permission
	// of Access. While one is missing it does not start: it logs one line
	// naming every missing permission (again only when that changes),
	// fails its readiness check, shows the PermissionsGranted condition on
	// its BGPNodeStatus and sends an Event about its Pod where it may, and
	// asks again until everything is granted. Without it a missing
	// permission makes a cache sync time out, which ends the process.
	CheckPermissions bool
	// PermissionRecheck is the longest wait between two checks while a
	// permission is missing; zero means access.DefaultMaxInterval.
	PermissionRecheck time.Duration
	// PodName and PodUID name the speaker's own Pod (in Namespace), which
	// Events about missing permissions are about; without a name no such
	// Event is sent.
	PodName string
	PodUID  types.UID

	// OpenDatapath opens the node's director datapath when a pool first
	// turns the director on; nil means the node has none, and says so in
	// its status while a pool asks for it.
	OpenDatapath director.Opener
	// Liveness watches the other nodes of the director's tables, so that
	// a node that died owns nothing from the moment it stops answering;
	// nil trusts every node's status object.
	Liveness director.Liveness
}

// NewManager builds a manager that runs the speaker's reconciler against
// engine. The caller stops the engine after the manager returns.
func NewManager(cfg *rest.Config, engine bgp.Engine, opts Options) (manager.Manager, error) {
	mgr, _, err := newManager(cfg, engine, opts)
	return mgr, err
}

// Run runs the speaker until ctx ends, then ends its sessions as the node's
// state asks: a node that is not draining is most likely restarting, so
// sessions end for graceful restart and routers keep its routes; a
// draining node finishes its drain (at most until shutdownGrace ends),
// withdraws everything and closes its sessions with a Cease.
func Run(ctx context.Context, cfg *rest.Config, engine bgp.Engine, opts Options, shutdownGrace time.Duration) error {
	mgr, r, err := newManager(cfg, engine, opts)
	if err != nil {
		return err
	}
	runErr := mgr.Start(ctx)
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	st, gone := r.drainState(), leaving(stopCtx, mgr.GetAPIReader(), opts.NodeName)
	stopErr := shutdown(stopCtx, engine, st, gone, opts.Logger)
	// No recompute runs any more, so the datapath is the caller's. A
	// node that stays keeps forwarding through the restart, as it keeps
	// its routes; a node that drained or goes away removes it.
	if st.draining || gone != "" {
		r.director.stop()
	} else {
		r.director.leave()
	}
	if st.draining || gone != "" {
		// Everything is withdrawn: the status must not claim otherwise.
		if err := clearNodeStatus(stopCtx, mgr.GetClient(), mgr.GetAPIReader(), opts.NodeName); err != nil {
			opts.Logger.Warn("cannot clear the node's BGPNodeStatus", "error", err)
		}
	}
	if runErr != nil {
		return fmt.Errorf("run speaker: %w", runErr)
	}
	return stopErr
}

// newManager builds the speaker's manager and returns it with the
// speaker's reconciler, whose drain state Run reads when the manager ends.
func newManager(cfg *rest.Config, engine bgp.Engine, opts Options) (manager.Manager, *speakerReconciler, error) {
	if opts.NodeName == "" {
		return nil, nil, fmt.Errorf("no node name: set --node-name or NODE_NAME")
	}
	opts = opts.withDefaults()
	mopts, err := managerOptions(opts)
	if err != nil {
		return nil, nil, err
	}
	metrics, err := newSpeakerMetrics(opts.MetricsRegistry)
	if err != nil {
		return nil, nil, err
	}
	preflight := newPreflight(opts)
	if preflight != nil {
		mopts.NewCache = preflight.GateCache(nil)
	}
	mgr, err := manager.New(cfg, mopts)
	if err != nil {
		return nil, nil, fmt.Errorf("create manager: %w", err)
	}
	// The DaemonSet's readiness probe asks /readyz; it answers once the
	// manager serves, so that a rolling update waits for this node's speaker.
	if err := kubeutil.AddPingChecks(mgr); err != nil {
		return nil, nil, err
	}
	recorder := mgr.GetEventRecorder("bgplb-speaker")
	r, err := addReconcilerRunnables(mgr, engine, recorder, opts, metrics)
	if err != nil {
		return nil, nil, err
	}
	if err := opts.MetricsRegistry.Register(newDirectorCollector(&r.director)); err != nil {
		return nil, nil, fmt.Errorf("register the director's metrics: %w", err)
	}
	if err := addSpeakerController(mgr, r, opts.NodeName, opts.Liveness); err != nil {
		return nil, nil, err
	}
	if preflight != nil {
		if mgr, err = attachPreflight(mgr, preflight, recorder, opts); err != nil {
			return nil, nil, err
		}
	}
	return mgr, r, nil
}

// withDefaults returns opts with every unset option that has a default
// set to it.
func (opts Options) withDefaults() Options {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HealthAddr == "" {
		opts.HealthAddr = "0"
	}
	if opts.MetricsRegistry == nil {
		opts.MetricsRegistry = ctrlmetrics.Registry
	}
	return opts
}

// managerOptions returns the manager's options for opts (after
// withDefaults): its scheme, servers and cache.
func managerOptions(opts Options) (manager.Options, error) {
	s, err := kubeutil.Scheme()
	if err != nil {
		return manager.Options{}, fmt.Errorf("build scheme: %w", err)
	}
	metricsServer, err := opts.Metrics.ServerOptions()
	if err != nil {
		return manager.Options{}, err
	}
	return manager.Options{
		Scheme:                 s,
		Metrics:                metricsServer,
		HealthProbeBindAddress: opts.HealthAddr,
		PprofBindAddress:       opts.PprofAddr,
		Controller:             opts.Controllers,
		// Watch only what this node needs: its own Node, and Secrets of
		// the speaker's namespace.
		// Managed fields are a large share of every cached object and are
		// never read.
		Cache: cache.Options{DefaultTransform: cache.TransformStripManagedFields(), ByObject: map[client.Object]cache.ByObject{
			&corev1.Node{}:   {Field: fields.OneTermEqualSelector("metadata.name", opts.NodeName)},
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{opts.Namespace: {}}},
		}},
	}, nil
}

// newPreflight returns the permission check of opts.CheckPermissions, or
// nil without it.
func newPreflight(opts Options) *access.Preflight {
	if !opts.CheckPermissions {
		return nil
	}
	return access.New("speaker", Access(opts), opts.Logger, opts.PermissionRecheck)
}

// addReconcilerRunnables adds the session watch and the node status
// writer to the manager, and returns the reconciler that drives them.
func addReconcilerRunnables(mgr manager.Manager, engine bgp.Engine, recorder events.EventRecorder, opts Options, metrics *speakerMetrics) (*speakerReconciler, error) {
	watch := &sessionWatch{engine: engine, logger: opts.Logger, period: 5 * time.Second, node: opts.NodeName,
		warn: peerWarning(mgr.GetClient(), recorder)}
	if err := mgr.Add(watch); err != nil {
		return nil, fmt.Errorf("add session watch: %w", err)
	}
	if err := addLiveness(mgr, opts.Liveness, opts.Logger); err != nil {
		return nil, err
	}
	status := newNodeStatusWriter(mgr.GetClient(), mgr.GetAPIReader(), engine, opts.NodeName, opts.Logger, metrics)
	if err := mgr.Add(status); err != nil {
		return nil, fmt.Errorf("add node status writer: %w", err)
	}
	return &speakerReconciler{
		client:      mgr.GetClient(),
		engine:      engine,
		logger:      opts.Logger,
		metrics:     metrics,
		nodeName:    opts.NodeName,
		namespace:   opts.Namespace,
		sessions:    watch,
		status:      status,
		events:      newAnnouncementEvents(recorder, opts.NodeName),
		drainEvents: drainEvents{recorder: recorder},
		director:    directorRunner{open: opts.OpenDatapath, liveness: opts.Liveness, logger: opts.Logger, self: opts.NodeName},
	}, nil
}

// peerWarning returns the session watch's way to report a problem as a
// Warning Event on the BGPPeer named peer; a peer that cannot be read
// gets none.
func peerWarning(reader client.Reader, recorder events.EventRecorder) func(ctx context.Context, peer, reason, message string) {
	return func(ctx context.Context, peer, reason, message string) {
		var p v1alpha1.BGPPeer
		if err := reader.Get(ctx, client.ObjectKey{Name: peer}, &p); err != nil {
			return
		}
		recorder.Eventf(&p, nil, corev1.EventTypeWarning, reason, "Session", "%s", message)
	}
}

// addSpeakerController adds the controller that runs r. Only events that
// can change what is announced start a recompute: during a burst of new
// Services most events are about Services that have no address yet, and
// each recompute reads everything.
func addSpeakerController(mgr manager.Manager, r *speakerReconciler, nodeName string, liveness director.Liveness) error {
	recompute := kubeutil.RecomputeAll()
	b := builder.ControllerManagedBy(mgr).
		Named("speaker").
		WithOptions(ctrlcontroller.Options{MaxConcurrentReconciles: 1})
	b = b.Watches(&corev1.Node{}, recompute, builder.WithPredicates(nodeChanged())).
		Watches(&corev1.Service{}, recompute, builder.WithPredicates(serviceChanged())).
		Watches(&discoveryv1.EndpointSlice{}, recompute, builder.WithPredicates(endpointsChanged(mgr.GetCache())))
	b = b.Watches(&corev1.Secret{}, recompute)
	// The bgplb objects' status is written by others (the controller
	// writes pool usage on every assignment); only their spec and labels
	// matter here.
	specOrLabels := builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))
	for _, obj := range []client.Object{&v1alpha1.IPPool{}, &v1alpha1.BGPPeer{}, &v1alpha1.BGPAdvertisement{}, &v1alpha1.BFDProfile{}} {
		b = b.Watches(obj, recompute, specOrLabels)
	}
	// Other nodes' status objects tell whether a Service is announced
	// elsewhere, which decides whether announcing it here may be held.
	b = b.Watches(&v1alpha1.BGPNodeStatus{}, recompute, builder.WithPredicates(otherNodesChanged(nodeName, &r.othersRead)))
	// A node of the director's tables that stops or starts answering
	// changes the tables.
	if liveness != nil {
		b = b.WatchesRawSource(source.Channel(livenessEvents(mgr, liveness), recompute))
	}
	if err := b.Complete(r); err != nil {
		return fmt.Errorf("create speaker controller: %w", err)
	}
	return nil
}

// attachPreflight makes the manager wait for the permission check before
// it starts anything. The check's Events are about the speaker's own Pod
// where opts names it, and every change of its outcome is shown on the
// node's BGPNodeStatus.
func attachPreflight(mgr manager.Manager, preflight *access.Preflight, recorder events.EventRecorder, opts Options) (manager.Manager, error) {
	preflight.Recorder = recorder
	if opts.PodName != "" {
		preflight.Regarding = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: opts.Namespace, Name: opts.PodName, UID: opts.PodUID}}
	}
	writer, reader := mgr.GetClient(), mgr.GetAPIReader()
	preflight.OnChange = func(ctx context.Context, rep access.Report) {
		if err := showPermissions(ctx, writer, reader, opts.NodeName, rep); err != nil {
			opts.Logger.Warn("cannot show the permission check on the node's BGPNodeStatus", "error", err)
		}
	}
	return preflight.Attach(mgr)
}
