package speaker

import (
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
)

// speakerMetrics are the speaker's metrics; docs/metrics.md lists them for
// operators. A process runs one speaker, so no series names the node: the
// scrape adds it.
type speakerMetrics struct {
	sessionUp           *prometheus.GaugeVec
	sessionStateChanges *prometheus.CounterVec
	prefixesAnnounced   *prometheus.GaugeVec
	updatesSent         *prometheus.CounterVec
	bfdUp               *prometheus.GaugeVec
	heldServices        prometheus.Gauge
	reconcileDuration   prometheus.Histogram
}

// newSpeakerMetrics creates the speaker's metrics and registers them, with
// bgplb_build_info, in registerer.
func newSpeakerMetrics(registerer prometheus.Registerer) (*speakerMetrics, error) {
	m := &speakerMetrics{
		sessionUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bgplb_speaker_session_up",
			Help: "1 while the BGP session to the peer is Established, 0 otherwise.",
		}, []string{"peer"}),
		sessionStateChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bgplb_speaker_session_state_changes_total",
			Help: "Transitions of the BGP session to the peer into each state.",
		}, []string{"peer", "state"}),
		prefixesAnnounced: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bgplb_speaker_prefixes_announced",
			Help: "Prefixes announced to the peer.",
		}, []string{"peer"}),
		updatesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bgplb_speaker_updates_sent_total",
			Help: "Prefixes advertised, changed or withdrawn towards the peer.",
		}, []string{"peer"}),
		bfdUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bgplb_speaker_bfd_up",
			Help: "1 while the BFD session watching the peer is Up, 0 otherwise; only peers with BFD.",
		}, []string{"peer"}),
		heldServices: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bgplb_speaker_held_services",
			Help: "Services this node would announce but holds back under an advertisement's additionHold.",
		}),
		reconcileDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bgplb_speaker_reconcile_duration_seconds",
			Help:    "Time of one recompute of everything the node announces.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	err := kubeutil.RegisterMetrics(registerer, "speaker",
		m.sessionUp, m.sessionStateChanges, m.prefixesAnnounced, m.updatesSent, m.bfdUp, m.heldServices, m.reconcileDuration)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// sessionGauges sets the per-peer gauges from the engine's sessions and
// removes the series of peers that are gone.
type sessionGauges struct {
	metrics *speakerMetrics
	peers   map[string]bool
}

func (g *sessionGauges) set(sessions []bgp.Session) {
	m := g.metrics
	seen := make(map[string]bool, len(sessions))
	for _, s := range sessions {
		seen[s.Peer] = true
		up := 0.0
		if s.State == bgp.StateEstablished {
			up = 1
		}
		m.sessionUp.WithLabelValues(s.Peer).Set(up)
		m.prefixesAnnounced.WithLabelValues(s.Peer).Set(float64(s.Announced))
		switch s.BFD {
		case "":
			m.bfdUp.DeleteLabelValues(s.Peer)
		case bgp.BFDUp:
			m.bfdUp.WithLabelValues(s.Peer).Set(1)
		default:
			m.bfdUp.WithLabelValues(s.Peer).Set(0)
		}
	}
	for peer := range g.peers {
		if !seen[peer] {
			m.sessionUp.DeleteLabelValues(peer)
			m.prefixesAnnounced.DeleteLabelValues(peer)
			m.bfdUp.DeleteLabelValues(peer)
			m.sessionStateChanges.DeletePartialMatch(prometheus.Labels{"peer": peer})
			m.updatesSent.DeleteLabelValues(peer)
		}
	}
	g.peers = seen
}

// countUpdates adds to updatesSent the prefixes that differ between what
// was requested of the engine before and now, per peer: the engine sends
// exactly those.
func (m *speakerMetrics) countUpdates(before, now map[string][]bgp.Path) {
	for peer, paths := range now {
		old := make(map[netip.Prefix]bgp.Path, len(before[peer]))
		for _, p := range before[peer] {
			old[p.Prefix] = p
		}
		n := 0
		for _, p := range paths {
			o, ok := old[p.Prefix]
			if !ok || !o.Equal(p) {
				n++
			}
			delete(old, p.Prefix)
		}
		n += len(old)
		if n > 0 {
			m.updatesSent.WithLabelValues(peer).Add(float64(n))
		}
	}
	for peer, paths := range before {
		if _, still := now[peer]; !still && len(paths) > 0 {
			m.updatesSent.WithLabelValues(peer).Add(float64(len(paths)))
		}
	}
}
