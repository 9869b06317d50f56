package controller

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/ipam"
	"github.com/bgplb/bgplb/internal/version"
)

// The controller's metrics, served with controller-runtime's own on the
// manager's metrics address. docs/metrics.md describes them.
var (
	poolAddresses = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bgplb_controller_pool_addresses",
		Help: "Addresses of a pool per family that Services can be given: assigned plus available.",
	}, []string{"pool", "family"})

	poolAssigned = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bgplb_controller_pool_assigned",
		Help: "Addresses of a pool per family assigned to Services; a shared address counts once.",
	}, []string{"pool", "family"})

	allocationFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bgplb_controller_allocation_failures_total",
		Help: "Failures to give a Service its addresses, counted once per distinct failure of a Service.",
	})

	reconcileDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "bgplb_controller_reconcile_duration_seconds",
		Help:    "Duration of the address controller's passes over every Service and pool.",
		Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	})
)

func init() {
	metrics.Registry.MustRegister(poolAddresses, poolAssigned, allocationFailures, reconcileDuration)
	if err := version.RegisterBuildInfo(metrics.Registry); err != nil {
		panic(err)
	}
}

// poolSeries is one series of the pool gauges.
type poolSeries struct{ pool, family string }

// exportedPools holds the pool series set by the last pass. It belongs to
// the process, not to one reconciler, so that a replica taking over also
// removes the series of pools deleted while another one was in charge.
var exportedPools = struct {
	sync.Mutex
	series map[poolSeries]bool
}{series: map[poolSeries]bool{}}

// exportPoolUsage sets the pool gauges from the allocator and deletes the
// series of pools (and families of pools) it no longer holds.
func exportPoolUsage(alloc *ipam.Allocator, pools []*v1alpha1.IPPool) {
	exportedPools.Lock()
	defer exportedPools.Unlock()
	current := make(map[poolSeries]bool, 2*len(pools))
	for _, p := range pools {
		for fam, u := range alloc.Usage(p.Name) {
			s := poolSeries{pool: p.Name, family: strings.ToLower(fam.String())}
			current[s] = true
			// Float64 keeps the magnitude of IPv6 counts near 2^64.
			poolAddresses.WithLabelValues(s.pool, s.family).Set(float64(u.Assigned) + float64(u.Available))
			poolAssigned.WithLabelValues(s.pool, s.family).Set(float64(u.Assigned))
		}
	}
	for s := range exportedPools.series {
		if !current[s] {
			poolAddresses.DeleteLabelValues(s.pool, s.family)
			poolAssigned.DeleteLabelValues(s.pool, s.family)
		}
	}
	exportedPools.series = current
}

// observeReconcile records the duration of a pass that started at start;
// call it deferred.
func observeReconcile(start time.Time) {
	reconcileDuration.Observe(time.Since(start).Seconds())
}
