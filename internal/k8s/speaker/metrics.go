package speaker

import (
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/version"
)

// The speaker's metrics; docs/metrics.md lists them for operators. A
// process runs one speaker, so no series names the node: the scrape adds
// it.
var (
	sessionUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bgplb_speaker_session_up",
		Help: "1 while the BGP session to the peer is Established, 0 otherwise.",
	}, []string{"peer"})
	sessionStateChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bgplb_speaker_session_state_changes_total",
		Help: "Transitions of the BGP session to the peer into each state.",
	}, []string{"peer", "state"})
	prefixesAnnounced = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bgplb_speaker_prefixes_announced",
		Help: "Prefixes announced to the peer.",
	}, []string{"peer"})
	updatesSent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bgplb_speaker_updates_sent_total",
		Help: "Prefixes advertised, changed or withdrawn towards the peer.",
	}, []string{"peer"})
	bfdUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bgplb_speaker_bfd_up",
		Help: "1 while the BFD session watching the peer is Up, 0 otherwise; only peers with BFD.",
	}, []string{"peer"})
	heldServices = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "bgplb_speaker_held_services",
		Help: "Services this node would announce but holds back under an advertisement's additionHold.",
	})
	reconcileDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "bgplb_speaker_reconcile_duration_seconds",
		Help:    "Time of one recompute of everything the node announces.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	})
)

func init() {
	metrics.Registry.MustRegister(sessionUp, sessionStateChanges, prefixesAnnounced, updatesSent, bfdUp, heldServices, reconcileDuration)
	if err := version.RegisterBuildInfo(metrics.Registry); err != nil {
		panic(err)
	}
}

// sessionGauges sets the per-peer gauges from the engine's sessions and
// removes the series of peers that are gone.
type sessionGauges struct {
	peers map[string]bool
}

func (g *sessionGauges) set(sessions []bgp.Session) {
	seen := make(map[string]bool, len(sessions))
	for _, s := range sessions {
		seen[s.Peer] = true
		up := 0.0
		if s.State == bgp.StateEstablished {
			up = 1
		}
		sessionUp.WithLabelValues(s.Peer).Set(up)
		prefixesAnnounced.WithLabelValues(s.Peer).Set(float64(s.Announced))
		switch s.BFD {
		case "":
			bfdUp.DeleteLabelValues(s.Peer)
		case bgp.BFDUp:
			bfdUp.WithLabelValues(s.Peer).Set(1)
		default:
			bfdUp.WithLabelValues(s.Peer).Set(0)
		}
	}
	for peer := range g.peers {
		if !seen[peer] {
			sessionUp.DeleteLabelValues(peer)
			prefixesAnnounced.DeleteLabelValues(peer)
			bfdUp.DeleteLabelValues(peer)
			sessionStateChanges.DeletePartialMatch(prometheus.Labels{"peer": peer})
			updatesSent.DeleteLabelValues(peer)
		}
	}
	g.peers = seen
}

// countUpdates adds to updatesSent the prefixes that differ between what
// was requested of the engine before and now, per peer: the engine sends
// exactly those.
func countUpdates(before, now map[string][]bgp.Path) {
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
			updatesSent.WithLabelValues(peer).Add(float64(n))
		}
	}
	for peer, paths := range before {
		if _, still := now[peer]; !still && len(paths) > 0 {
			updatesSent.WithLabelValues(peer).Add(float64(len(paths)))
		}
	}
}
