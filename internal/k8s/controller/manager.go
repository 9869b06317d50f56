// Package controller assigns addresses from IPPools to Services of type
// LoadBalancer and keeps pool status current.
package controller

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrlcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/access"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
)

// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=services/status,verbs=get;patch;update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=bgplb.io,resources=ippools,verbs=get;list;watch
// +kubebuilder:rbac:groups=bgplb.io,resources=ippools/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=bgplb.io,resources=bgpadvertisements,verbs=get;list;watch
// +kubebuilder:rbac:groups=bgplb.io,resources=bgpadvertisements/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=bgplb.io,resources=bgppeers;bfdprofiles,verbs=get;list;watch
// +kubebuilder:rbac:groups=bgplb.io,resources=bgppeers/status;bfdprofiles/status,verbs=get;patch;update
// Only with --check-password-secrets; the chart grants it only then.
// +kubebuilder:rbac:groups="",namespace=bgplb-system,resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch,namespace=bgplb-system
// Leader election reports a change of leader as a core Event on the Lease.
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch,namespace=bgplb-system
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Options configures the controller.
type Options struct {
	// LoadBalancerClass is the spec.loadBalancerClass of the Services to
	// serve; empty serves Services without a class.
	LoadBalancerClass string

	// SpeakerNamespace is where the speakers run and read peer password
	// Secrets. Default "bgplb-system", which the generated Role is for.
	SpeakerNamespace string
	// CheckPasswordSecrets makes the controller read the Secrets of
	// SpeakerNamespace (only which keys they have) to tell on a peer's
	// condition whether its password Secret exists and has its key.
	// Without it the controller needs no access to Secrets at all, and
	// only the speakers, which read the password, report a missing one.
	CheckPasswordSecrets bool

	// LeaderElection makes replicas elect one active controller through a
	// Lease named LeaderElectionID in LeaderElectionNamespace.
	LeaderElection          bool
	LeaderElectionNamespace string
	LeaderElectionID        string
	// LeaseDuration, RenewDeadline and RetryPeriod tune failover; zero
	// values keep controller-runtime's defaults.
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration

	// Metrics says where and how metrics are served; its zero value
	// serves none.
	Metrics kubeutil.MetricsServing
	// MetricsRegistry receives the controller's metrics; nil means
	// controller-runtime's metrics.Registry, the one the metrics server
	// serves. Each controller needs a registry of its own: a second one
	// registering in the same registry fails.
	MetricsRegistry prometheus.Registerer
	// HealthAddr is the listen address of the health probes; "0" turns
	// them off. Kubelet probes them without credentials, so they are plain
	// HTTP, unauthenticated, and never serve metrics.
	HealthAddr string
	// PprofAddr serves Go's profiler when set; empty or "0" is off.
	PprofAddr string

	// Controllers holds controller-runtime's settings for every
	// controller of the manager (manager.Options.Controller); its zero
	// value keeps controller-runtime's defaults. Several managers in one
	// process, as tests run them, set SkipNameValidation here, since
	// controller-runtime refuses a second controller of the same name in
	// a process.
	Controllers config.Controller

	// CheckPermissions makes the controller ask the API server, before it
	// starts watching anything or takes part in leader election, whether
	// its identity has every permission of Access. While one is missing
	// it does not start: it logs one line naming every missing permission
	// (again only when that changes), fails its readiness check, sends an
	// Event about its Pod where it may, and asks again until everything is
	// granted. Without it a missing permission makes a cache sync time
	// out, which ends the process.
	CheckPermissions bool
	// PermissionRecheck is the longest wait between two checks while a
	// permission is missing; zero means access.DefaultMaxInterval.
	PermissionRecheck time.Duration
	// PodNamespace, PodName and PodUID name the controller's own Pod,
	// which Events about missing permissions are about; without a name no
	// such Event is sent.
	PodNamespace string
	PodName      string
	PodUID       types.UID
	// Logger receives the lines about missing permissions and about
	// passes that run again after a write conflict; nil means
	// slog.Default().
	Logger *slog.Logger
}

// NewManager builds a manager running the address controller and the
// controllers of advertisement, peer and BFD profile conditions.
func NewManager(cfg *rest.Config, opts Options) (manager.Manager, error) {
	opts = opts.withDefaults()
	mopts, err := managerOptions(opts)
	if err != nil {
		return nil, err
	}
	metrics, err := newControllerMetrics(opts.MetricsRegistry)
	if err != nil {
		return nil, err
	}
	preflight := newPreflight(opts)
	if preflight != nil {
		mopts.NewCache = preflight.GateCache(nil)
	}
	mgr, err := manager.New(cfg, mopts)
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	if err := kubeutil.AddPingChecks(mgr); err != nil {
		return nil, err
	}
	if err := addAddressController(mgr, opts, metrics); err != nil {
		return nil, err
	}
	if err := addAdvertisementStatusController(mgr, opts); err != nil {
		return nil, err
	}
	if err := addPeerStatusController(mgr, opts); err != nil {
		return nil, err
	}
	if preflight == nil {
		return mgr, nil
	}
	return attachPreflight(mgr, preflight, opts)
}

// withDefaults returns opts with every unset option that has a default
// set to it.
func (opts Options) withDefaults() Options {
	if opts.LeaderElectionID == "" {
		opts.LeaderElectionID = "bgplb-controller"
	}
	if opts.HealthAddr == "" {
		opts.HealthAddr = "0"
	}
	if opts.SpeakerNamespace == "" {
		opts.SpeakerNamespace = "bgplb-system"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MetricsRegistry == nil {
		opts.MetricsRegistry = ctrlmetrics.Registry
	}
	return opts
}

// managerOptions returns the manager's options for opts (after
// withDefaults): its scheme, servers, leader election and cache.
func managerOptions(opts Options) (manager.Options, error) {
	scheme, err := kubeutil.Scheme()
	if err != nil {
		return manager.Options{}, fmt.Errorf("build scheme: %w", err)
	}
	metricsServer, err := opts.Metrics.ServerOptions()
	if err != nil {
		return manager.Options{}, err
	}
	mopts := manager.Options{
		Scheme:                        scheme,
		Metrics:                       metricsServer,
		HealthProbeBindAddress:        opts.HealthAddr,
		PprofBindAddress:              opts.PprofAddr,
		LeaderElection:                opts.LeaderElection,
		LeaderElectionNamespace:       opts.LeaderElectionNamespace,
		LeaderElectionID:              opts.LeaderElectionID,
		LeaderElectionReleaseOnCancel: true,
		Controller:                    opts.Controllers,
		// Managed fields are a large share of every cached object and are
		// never read.
		Cache: cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
	}
	if opts.CheckPasswordSecrets {
		// Secrets are read only in the speakers' namespace, and only which
		// keys they have.
		mopts.Cache.ByObject = map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{opts.SpeakerNamespace: {}}, Transform: secretKeysOnly},
		}
	}
	if opts.LeaseDuration > 0 {
		mopts.LeaseDuration = &opts.LeaseDuration
	}
	if opts.RenewDeadline > 0 {
		mopts.RenewDeadline = &opts.RenewDeadline
	}
	if opts.RetryPeriod > 0 {
		mopts.RetryPeriod = &opts.RetryPeriod
	}
	return mopts, nil
}

// newPreflight returns the permission check of opts.CheckPermissions, or
// nil without it.
func newPreflight(opts Options) *access.Preflight {
	if !opts.CheckPermissions {
		return nil
	}
	return access.New("controller", Access(opts), opts.Logger, opts.PermissionRecheck)
}

// addAddressController adds the controller that assigns addresses to
// Services and writes pool usage.
func addAddressController(mgr manager.Manager, opts Options, metrics *controllerMetrics) error {
	r := newAllocationReconciler(mgr.GetClient(), mgr.GetEventRecorder(v1alpha1.EventReportingController), opts.Logger, metrics, opts.LoadBalancerClass)
	recompute := kubeutil.RecomputeAll()
	err := builder.ControllerManagedBy(mgr).
		Named("service-addresses").
		Watches(&corev1.Service{}, recompute).
		Watches(&v1alpha1.IPPool{}, recompute, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Namespace{}, recompute, builder.WithPredicates(predicate.LabelChangedPredicate{})).
		WithOptions(ctrlcontroller.Options{MaxConcurrentReconciles: 1}).
		Complete(r)
	if err != nil {
		return fmt.Errorf("create address controller: %w", err)
	}
	return nil
}

// addAdvertisementStatusController adds the controller of the
// advertisements' conditions. They depend on the advertisements' specs,
// the pools' labels, and the Services' type, traffic policy, labels and
// assigned pool; nothing else wakes this controller.
func addAdvertisementStatusController(mgr manager.Manager, opts Options) error {
	recompute := kubeutil.RecomputeAll()
	err := builder.ControllerManagedBy(mgr).
		Named("advertisement-status").
		Watches(&v1alpha1.BGPAdvertisement{}, recompute, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.IPPool{}, recompute, builder.WithPredicates(
			predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&corev1.Service{}, recompute, builder.WithPredicates(serviceSelectionChanged())).
		WithOptions(ctrlcontroller.Options{MaxConcurrentReconciles: 1}).
		Complete(newAdvertisementReconciler(mgr.GetClient(), opts.Logger))
	if err != nil {
		return fmt.Errorf("create advertisement status controller: %w", err)
	}
	return nil
}

// addPeerStatusController adds the controller of the peers' and BFD
// profiles' conditions. Peer conditions depend on the peers' specs, on
// which BFD profiles exist and, when checked, on which keys the Secrets of
// the speakers' namespace have; profile conditions depend on the
// profiles' specs.
func addPeerStatusController(mgr manager.Manager, opts Options) error {
	recompute := kubeutil.RecomputeAll()
	peers := builder.ControllerManagedBy(mgr).
		Named("peer-status").
		Watches(&v1alpha1.BGPPeer{}, recompute, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.BFDProfile{}, recompute, builder.WithPredicates(predicate.GenerationChangedPredicate{}))
	if opts.CheckPasswordSecrets {
		peers = peers.Watches(&corev1.Secret{}, recompute, builder.WithPredicates(secretKeysChanged()))
	}
	err := peers.
		WithOptions(ctrlcontroller.Options{MaxConcurrentReconciles: 1}).
		Complete(newPeerReconciler(mgr.GetClient(), opts.SpeakerNamespace, opts.CheckPasswordSecrets, opts.Logger))
	if err != nil {
		return fmt.Errorf("create peer status controller: %w", err)
	}
	return nil
}

// attachPreflight makes the manager wait for the permission check before
// it starts anything, sending the check's Events about the controller's
// own Pod where opts names it.
func attachPreflight(mgr manager.Manager, preflight *access.Preflight, opts Options) (manager.Manager, error) {
	preflight.Recorder = mgr.GetEventRecorder(v1alpha1.EventReportingController)
	if opts.PodName != "" && opts.PodNamespace != "" {
		preflight.Regarding = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: opts.PodNamespace, Name: opts.PodName, UID: opts.PodUID}}
	}
	return preflight.Attach(mgr)
}
