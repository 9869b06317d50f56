package speaker

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/bgplb/bgplb/internal/bgp"
)

// stuckAfter is how long a session may stay down before the speaker says
// so; it spans several connect attempts and a default hold time.
const stuckAfter = 20 * time.Second

// sessionWatch logs, once per outage, each session that has not been
// Established for stuckAfter, with the likely reason. A TCP-MD5 mismatch
// in particular leaves no trace but timeouts: the kernel drops the
// segments, so neither side ever sees a BGP message.
//
// It also reports, once per session, a peer configured for graceful
// restart whose router did not offer it: nothing fails until the next
// speaker restart, which then withdraws this node's routes.
type sessionWatch struct {
	engine bgp.Engine
	logger *slog.Logger
	period time.Duration
	// warn, if set, also reports a problem as a Warning event on the
	// BGPPeer.
	warn func(ctx context.Context, peer, reason, message string)
	// node names this speaker's node in what it reports.
	node string

	mu sync.Mutex
	// peers holds what the watch needs to know about each peer, as the
	// reconciler last configured them.
	peers map[string]peerFacts
	// reported holds the peers already reported for their current outage.
	reported map[string]time.Time
	// noGracefulRestart holds the sessions (by start time) already
	// reported for lacking graceful restart.
	noGracefulRestart map[string]time.Time
}

// peerFacts is what the session watch knows about a peer's configuration.
type peerFacts struct {
	password        bool
	gracefulRestart bool
}

func (w *sessionWatch) setPeers(peers map[string]peerFacts) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.peers = peers
}

// EventGracefulRestartNotNegotiated is the reason of the Warning event on a
// BGPPeer whose router did not offer graceful restart.
const EventGracefulRestartNotNegotiated = "GracefulRestartNotNegotiated"

// Start implements manager.Runnable; it runs on every replica, as speakers
// do not elect a leader.
func (w *sessionWatch) Start(ctx context.Context) error {
	ticker := time.NewTicker(w.period)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			w.check(ctx, time.Now())
		}
	}
}

func (w *sessionWatch) check(ctx context.Context, now time.Time) {
	sessions, err := w.engine.Sessions(ctx)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.reported == nil {
		w.reported = map[string]time.Time{}
		w.noGracefulRestart = map[string]time.Time{}
	}
	for _, s := range sessions {
		if s.State == bgp.StateEstablished {
			delete(w.reported, s.Peer)
			w.checkGracefulRestart(ctx, s)
			continue
		}
		if now.Sub(s.Since) < stuckAfter || w.reported[s.Peer] == s.Since {
			continue
		}
		w.reported[s.Peer] = s.Since
		attrs := []any{"peer", s.Peer, "state", s.State, "for", now.Sub(s.Since).Round(time.Second).String()}
		if s.LastError != "" {
			attrs = append(attrs, "lastError", s.LastError)
		}
		w.logger.Warn("BGP session not established", append(attrs, "reason", likelyCause(s, w.peers[s.Peer]))...)
	}
}

// likelyCause says why a session that stays down is down, as far as the
// speaker can tell: a NOTIFICATION names the fault, while a router that
// never answers, or drops segments with the wrong TCP-MD5 key, leaves
// only timeouts.
func likelyCause(s bgp.Session, facts peerFacts) string {
	switch {
	case strings.Contains(s.LastError, "NOTIFICATION"):
		return "a NOTIFICATION ended each attempt (see lastError): the router and this peer's settings disagree"
	case facts.password:
		return "TCP-MD5 is configured for this peer; a password that differs from the router's shows only as connection timeouts"
	default:
		return "the router does not answer: check its neighbour configuration, addresses and ASNs"
	}
}

func (w *sessionWatch) checkGracefulRestart(ctx context.Context, s bgp.Session) {
	if !w.peers[s.Peer].gracefulRestart || s.GracefulRestart || w.noGracefulRestart[s.Peer] == s.Since {
		return
	}
	w.noGracefulRestart[s.Peer] = s.Since
	msg := "graceful restart is enabled for this peer but the router did not offer it, so a restart of the speaker on node " +
		w.node + " withdraws the node's routes; enable graceful restart (helper mode) on the router, or disable it here"
	w.logger.Warn("graceful restart not negotiated", "peer", s.Peer, "reason", msg)
	if w.warn != nil {
		w.warn(ctx, s.Peer, EventGracefulRestartNotNegotiated, msg)
	}
}

// NeedLeaderElection says the watch runs on every speaker.
func (w *sessionWatch) NeedLeaderElection() bool { return false }
