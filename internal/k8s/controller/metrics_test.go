package controller_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/controller"
	"github.com/bgplb/bgplb/internal/k8s/testenv"
	"github.com/bgplb/bgplb/internal/testpoll"
)

// scrape gathers the metrics of controller c and returns every
// bgplb_controller sample keyed as in the text format, labels sorted by
// name: bgplb_controller_pool_assigned{family="ipv4",pool="a"}. A
// histogram appears as its _count and _sum.
func scrape(t *testing.T, c *runningController) map[string]float64 {
	t.Helper()
	families, err := c.metrics.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	samples := map[string]float64{}
	for _, mf := range families {
		if !strings.HasPrefix(mf.GetName(), "bgplb_controller_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetGauge() != nil:
				samples[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				samples[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				samples[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
				samples[key+"_sum"] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return samples
}

func poolSample(metric, pool, family string) string {
	return fmt.Sprintf("bgplb_controller_%s{family=%q,pool=%q}", metric, family, pool)
}

// poolSamples lists the samples of the pool gauges that name the pool.
func poolSamples(samples map[string]float64, pool string) []string {
	var out []string
	for key, v := range samples {
		if strings.HasPrefix(key, "bgplb_controller_pool_") && strings.Contains(key, fmt.Sprintf("pool=%q", pool)) {
			out = append(out, fmt.Sprintf("%s %g", key, v))
		}
	}
	slices.Sort(out)
	return out
}

// waitForSamples waits until every sample in want has its value in the
// metrics of controller c.
func waitForSamples(t *testing.T, c *runningController, what string, want map[string]float64) {
	t.Helper()
	testpoll.Until(t, 20*time.Second, what, func() (bool, string) {
		got := scrape(t, c)
		var diff []string
		for key, v := range want {
			if have, ok := got[key]; !ok || have != v {
				diff = append(diff, fmt.Sprintf("%s=%v (present %v)", key, have, ok))
			}
		}
		slices.Sort(diff)
		return len(diff) == 0, strings.Join(diff, ", ")
	})
}

// withClass puts a Service in the class of the test's controller, so that
// Services left by other tests are not the controller's and cannot move its
// counters.
func withClass(class string) serviceOption {
	return func(s *corev1.Service) { s.Spec.LoadBalancerClass = &class }
}

const reconcileCount = "bgplb_controller_reconcile_duration_seconds_count"

func TestPoolGaugesFollowAssignmentsAndDeletedPoolsLeaveNoSeries(t *testing.T) {
	ns := namespace(t, nil)
	class := "bgplb.io/" + ns
	c := startController(t, controller.Options{LoadBalancerClass: class})
	passesBefore := scrape(t, c)[reconcileCount]

	pool := ns + "-main"
	createPool(t, pool, []string{"203.0.113.128/28", "2001:db8:100:30::/124"}, onlyNamespaces(ns))
	// The IPv6 /124 never hands out its subnet-router anycast address.
	waitForSamples(t, c, "an unused pool exports its size and no assignments", map[string]float64{
		poolSample("pool_addresses", pool, "ipv4"): 16,
		poolSample("pool_addresses", pool, "ipv6"): 15,
		poolSample("pool_assigned", pool, "ipv4"):  0,
		poolSample("pool_assigned", pool, "ipv6"):  0,
	})

	createService(t, ns, "v4-a", withClass(class), families(corev1.IPFamilyPolicySingleStack, corev1.IPv4Protocol))
	createService(t, ns, "v4-b", withClass(class), families(corev1.IPFamilyPolicySingleStack, corev1.IPv4Protocol))
	createService(t, ns, "dual", withClass(class), families(corev1.IPFamilyPolicyRequireDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol))
	waitForSamples(t, c, "assignments show in pool_assigned per family", map[string]float64{
		poolSample("pool_addresses", pool, "ipv4"): 16,
		poolSample("pool_addresses", pool, "ipv6"): 15,
		poolSample("pool_assigned", pool, "ipv4"):  3,
		poolSample("pool_assigned", pool, "ipv6"):  1,
	})

	if err := k8sClient.Delete(context.Background(), getService(t, ns, "v4-b")); err != nil {
		t.Fatal(err)
	}
	waitForSamples(t, c, "a released address leaves pool_assigned", map[string]float64{
		poolSample("pool_assigned", pool, "ipv4"): 2,
		poolSample("pool_assigned", pool, "ipv6"): 1,
	})

	// A pool of one family exports only that family, and its series go
	// with the pool.
	extra := ns + "-extra"
	p := createPool(t, extra, []string{"203.0.113.160/29"}, onlyNamespaces(ns))
	waitForSamples(t, c, "a new pool is exported", map[string]float64{
		poolSample("pool_addresses", extra, "ipv4"): 8,
		poolSample("pool_assigned", extra, "ipv4"):  0,
	})
	if got := poolSamples(scrape(t, c), extra); len(got) != 2 {
		t.Errorf("an IPv4-only pool exports %v, want only its two ipv4 series", got)
	}
	if err := k8sClient.Delete(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	testpoll.Until(t, 20*time.Second, "the deleted pool's series are removed", func() (bool, string) {
		got := poolSamples(scrape(t, c), extra)
		return len(got) == 0, strings.Join(got, ", ")
	})
	if got := poolSamples(scrape(t, c), pool); len(got) != 4 {
		t.Errorf("the remaining pool exports %v, want its four series", got)
	}

	samples := scrape(t, c)
	if samples[reconcileCount] <= passesBefore {
		t.Errorf("reconcile duration histogram has %v observations, had %v before the test", samples[reconcileCount], passesBefore)
	}
	if sum := samples["bgplb_controller_reconcile_duration_seconds_sum"]; sum <= 0 {
		t.Errorf("reconcile duration histogram sums to %v", sum)
	}
}

func TestAnAllocationFailureIsCountedOnceNotOnEveryPass(t *testing.T) {
	const failures = "bgplb_controller_allocation_failures_total"
	ns := namespace(t, nil)
	class := "bgplb.io/" + ns
	c := startController(t, controller.Options{LoadBalancerClass: class})
	createPool(t, ns+"-pool", []string{"203.0.113.176/29"}, onlyNamespaces(ns))

	// Once this Service has an address, the controller has made at least
	// one pass and reported whatever it had to report.
	createService(t, ns, "first", withClass(class))
	waitForAnyIPs(t, ns, "first", 1)
	before := scrape(t, c)[failures]

	createService(t, ns, "outside", withClass(class), annotate(v1alpha1.AnnotationLoadBalancerIPs, "203.0.113.250"))
	waitForEvent(t, ns, "outside", controller.EventAllocationFailed, "203.0.113.250", "not in any pool")
	waitForSamples(t, c, "the failure is counted", map[string]float64{failures: before + 1})

	// More passes, each of which looks at the failing Service again.
	passes := scrape(t, c)[reconcileCount]
	for i := range 3 {
		name := fmt.Sprintf("later-%d", i)
		createService(t, ns, name, withClass(class))
		waitForAnyIPs(t, ns, name, 1)
	}
	samples := scrape(t, c)
	if samples[reconcileCount] < passes+3 {
		t.Fatalf("only %v passes after the failure, want at least 3", samples[reconcileCount]-passes)
	}
	if samples[failures] != before+1 {
		t.Errorf("%s = %v after more passes, want %v: an unchanged failure is counted again", failures, samples[failures], before+1)
	}
}

// Production passes no registry: the metrics then go to
// controller-runtime's, the one the manager's metrics server serves, and
// a second controller there is refused instead of sharing the first one's
// series.
func TestWithoutARegistryTheMetricsGoWhereTheManagerServesThem(t *testing.T) {
	opts := controller.Options{Controllers: testenv.SeveralInProcess()}
	if _, err := controller.NewManager(env.Config, opts); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(ctrlmetrics.Registry, "bgplb_controller_allocation_failures_total", "bgplb_controller_reconcile_duration_seconds", "bgplb_build_info")
	if err != nil || n != 3 {
		t.Errorf("controller-runtime's registry holds %d of the controller's 3 unlabelled series (%v)", n, err)
	}
	if _, err := controller.NewManager(env.Config, opts); err == nil || !strings.Contains(err.Error(), "register the controller's metrics") {
		t.Errorf("a second controller in the same registry: error = %v, want a refused registration", err)
	}
}
