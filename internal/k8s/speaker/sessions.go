package speaker

import (
	"context"
	"log/slog"
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
type sessionWatch struct {
	engine bgp.Engine
	logger *slog.Logger
	period time.Duration

	mu sync.Mutex
	// withPassword lists the peers that use TCP-MD5, as the reconciler
	// last configured them.
	withPassword map[string]bool
	// reported holds the peers already reported for their current outage.
	reported map[string]time.Time
}

func (w *sessionWatch) setPasswordPeers(peers map[string]bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.withPassword = peers
}

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
	}
	for _, s := range sessions {
		if s.State == bgp.StateEstablished {
			delete(w.reported, s.Peer)
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
		reason := "the router does not answer: check its neighbour configuration, addresses and ASNs"
		if w.withPassword[s.Peer] {
			reason = "TCP-MD5 is configured for this peer; a password that differs from the router's shows only as connection timeouts"
		}
		w.logger.Warn("BGP session not established", append(attrs, "reason", reason)...)
	}
}

// NeedLeaderElection says the watch runs on every speaker.
func (w *sessionWatch) NeedLeaderElection() bool { return false }
