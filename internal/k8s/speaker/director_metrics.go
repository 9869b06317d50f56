package speaker

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// directorCollector exports the director datapath's packet counters,
// read from the kernel at each scrape. docs/metrics.md lists them.
type directorCollector struct {
	runner                                  *directorRunner
	forwarded, secondChance, local, noOwner *prometheus.Desc
}

func newDirectorCollector(runner *directorRunner) directorCollector {
	return directorCollector{
		runner: runner,
		forwarded: prometheus.NewDesc("bgplb_director_forwarded_packets_total",
			"Packets this node forwarded to the node named, their connection's owner (first hop).", []string{"to_node"}, nil),
		secondChance: prometheus.NewDesc("bgplb_director_second_chance_packets_total",
			"Packets this node sent on to the node named because it knew no connection for them (second hop).", []string{"to_node"}, nil),
		local: prometheus.NewDesc("bgplb_director_local_packets_total",
			"Packets for a director Service address that this node kept and served.", nil, nil),
		noOwner: prometheus.NewDesc("bgplb_director_no_owner_packets_total",
			"Packets for a director Service address that no table had an owner for, left to this node.", nil, nil),
	}
}

// directorScrapeTimeout bounds one read of the counters.
const directorScrapeTimeout = 2 * time.Second

func (c directorCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.forwarded
	ch <- c.secondChance
	ch <- c.local
	ch <- c.noOwner
}

func (c directorCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), directorScrapeTimeout)
	defer cancel()
	counters, ok := c.runner.counters(ctx)
	if !ok {
		return
	}
	for node, n := range counters.Forwarded {
		ch <- prometheus.MustNewConstMetric(c.forwarded, prometheus.CounterValue, float64(n), node)
	}
	for node, n := range counters.SecondChances {
		ch <- prometheus.MustNewConstMetric(c.secondChance, prometheus.CounterValue, float64(n), node)
	}
	ch <- prometheus.MustNewConstMetric(c.local, prometheus.CounterValue, float64(counters.Local))
	ch <- prometheus.MustNewConstMetric(c.noOwner, prometheus.CounterValue, float64(counters.NoOwner))
}
