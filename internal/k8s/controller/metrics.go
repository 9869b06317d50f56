package controller

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/ipam"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
)

// controllerMetrics are the controller's metrics, served with
// controller-runtime's own on the manager's metrics address.
// docs/metrics.md describes them.
type controllerMetrics struct {
	poolAddresses      *prometheus.GaugeVec
	poolAssigned       *prometheus.GaugeVec
	allocationFailures prometheus.Counter
	reconcileDuration  prometheus.Histogram

	// exported holds the pool series set by the last pass, so that the
	// next one removes those of pools that are gone. Only the address
	// controller's passes use it, and they run one at a time.
	exported map[poolSeries]bool
}

// poolSeries is one series of the pool gauges.
type poolSeries struct{ pool, family string }

// newControllerMetrics creates the controller's metrics and registers them,
// with bgplb_build_info, in registerer.
func newControllerMetrics(registerer prometheus.Registerer) (*controllerMetrics, error) {
	m := &controllerMetrics{
		poolAddresses: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bgplb_controller_pool_addresses",
			Help: "Addresses of a pool per family that Services can be given: assigned plus available.",
		}, []string{"pool", "family"}),
		poolAssigned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bgplb_controller_pool_assigned",
			Help: "Addresses of a pool per family assigned to Services; a shared address counts once.",
		}, []string{"pool", "family"}),
		allocationFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bgplb_controller_allocation_failures_total",
			Help: "Failures to give a Service its addresses, counted once per distinct failure of a Service.",
		}),
		reconcileDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bgplb_controller_reconcile_duration_seconds",
			Help:    "Duration of the address controller's passes over every Service and pool.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
		exported: map[poolSeries]bool{},
	}
	err := kubeutil.RegisterMetrics(registerer, "controller", m.poolAddresses, m.poolAssigned, m.allocationFailures, m.reconcileDuration)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// exportPoolUsage sets the pool gauges from the allocator and deletes the
// series of pools (and families of pools) it no longer holds.
func (m *controllerMetrics) exportPoolUsage(alloc *ipam.Allocator, pools []*v1alpha1.IPPool) {
	current := make(map[poolSeries]bool, 2*len(pools))
	for _, p := range pools {
		for fam, u := range alloc.Usage(p.Name) {
			s := poolSeries{pool: p.Name, family: strings.ToLower(fam.String())}
			current[s] = true
			// Float64 keeps the magnitude of IPv6 counts near 2^64.
			m.poolAddresses.WithLabelValues(s.pool, s.family).Set(float64(u.Assigned) + float64(u.Available))
			m.poolAssigned.WithLabelValues(s.pool, s.family).Set(float64(u.Assigned))
		}
	}
	for s := range m.exported {
		if !current[s] {
			m.poolAddresses.DeleteLabelValues(s.pool, s.family)
			m.poolAssigned.DeleteLabelValues(s.pool, s.family)
		}
	}
	m.exported = current
}

// observeReconcile records the duration of a pass that started at start;
// call it deferred.
func (m *controllerMetrics) observeReconcile(start time.Time) {
	m.reconcileDuration.Observe(time.Since(start).Seconds())
}
