// Package gobgp implements bgp.Engine with GoBGP embedded as a library. It
// is the only package of bgplb that imports GoBGP.
//
// Every peer gets its own GoBGP server with exactly one neighbor. A GoBGP
// server has one RIB shared by all its neighbors, so one server per peer is
// what lets each peer have its own set of paths and attributes, and lets a
// peer be reset without touching any other. The servers never listen: they
// always connect out to their peer.
//
// Paths received from peers are rejected by an import policy; bgplb never
// installs routes.
package gobgp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/bgp/internal/latest"
)

// Engine is the GoBGP implementation of bgp.Engine.
type Engine struct {
	logger *slog.Logger
	feed   *latest.Feed[bgp.Session]

	// mu is held by ReconcilePeers, ReconcilePaths and Stop for their whole
	// run, so that they apply one after the other. It guards peers and
	// stopped.
	mu      sync.Mutex
	peers   map[string]*peerServer
	stopped bool

	// stateMu guards sessions. It is separate from mu so that session
	// events and Sessions are never held up by a long reconciliation.
	stateMu  sync.Mutex
	sessions map[string]*sessionRecord
}

// sessionRecord is what the engine knows about one peer's session.
type sessionRecord struct {
	// server is the peer's current server; events of an older server of
	// the same peer are ignored. It is nil if the server failed to start.
	server  *peerServer
	session bgp.Session
}

var _ bgp.Engine = (*Engine)(nil)

// New returns an Engine with no peers that logs to logger (nil discards
// the logs). Stop releases it.
func New(logger *slog.Logger) *Engine {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Engine{
		logger:   logger,
		feed:     latest.New[bgp.Session](),
		peers:    make(map[string]*peerServer),
		sessions: make(map[string]*sessionRecord),
	}
}

// ReconcilePeers implements bgp.Engine. The request is validated as a
// whole first; an invalid request changes nothing. A new peer's session
// opens with the next ReconcilePaths that lists the peer, so that it
// starts with its full table. Removed peers are closed
// with a Cease NOTIFICATION. A peer whose settings changed gets a new
// server, which announces the paths the old one announced (minus those of
// a family that no longer has a next hop). A peer whose server fails to
// start is reported in the error and in Sessions, and is retried by the
// next ReconcilePeers.
func (e *Engine) ReconcilePeers(ctx context.Context, req bgp.ReconcilePeersRequest) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return bgp.ErrStopped
	}
	want, err := req.PeersByName()
	if err != nil {
		return err
	}
	// A request whose context has ended changes nothing, as an invalid
	// one; one whose context ends while it runs stops where it is.
	if err := ctx.Err(); err != nil {
		return err
	}
	e.removePeersNotIn(want)
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		errs = append(errs, e.applyPeer(ctx, e.peers[name], want[name])...)
	}
	return errors.Join(errs...)
}

// peerChange is what ReconcilePeers does to one requested peer.
type peerChange int

const (
	// peerUnchanged leaves the peer's server and session alone.
	peerUnchanged peerChange = iota
	// peerAdded starts a server for a peer the engine does not run.
	peerAdded
	// peerBFDUpdated applies the peer's BFD settings to its running
	// server, without a reset of the BGP session.
	peerBFDUpdated
	// peerReset replaces the peer's server, which resets its session.
	peerReset
)

// changeFor decides what ReconcilePeers does to peer want, given its
// running server old (nil if it has none). A peer whose BFD could not be
// turned on before is tried again. A change of BFD settings alone is
// applied in place when the server has a BFD listener; any other change
// resets the session.
func changeFor(old *peerServer, want bgp.Peer) peerChange {
	switch {
	case old == nil:
		return peerAdded
	case old.cfg.Equal(want) && old.bfdProblem == nil:
		return peerUnchanged
	case old.cfg.EqualButBFD(want) && old.bfdDevice != "":
		return peerBFDUpdated
	default:
		return peerReset
	}
}

// removePeersNotIn closes the sessions of the running peers that want does
// not list, with a Cease NOTIFICATION, and forgets them and the sessions
// of failed peers (which have a session record but no server) that want
// does not list either.
func (e *Engine) removePeersNotIn(want map[string]bgp.Peer) {
	for _, name := range slices.Sorted(maps.Keys(e.peers)) {
		if _, ok := want[name]; ok {
			continue
		}
		e.peers[name].stop()
		delete(e.peers, name)
		e.forgetSession(name)
		e.logger.Info("removed BGP peer", "peer", name)
	}
	for _, name := range e.sessionNames() {
		if _, ok := want[name]; !ok {
			e.forgetSession(name)
		}
	}
}

// applyPeer brings requested peer p about, given its running server old
// (nil if it has none), as changeFor decides. A reset peer's new server
// announces the paths the old one announced, those of a family that no
// longer has a next hop excepted.
func (e *Engine) applyPeer(ctx context.Context, old *peerServer, p bgp.Peer) []error {
	change := changeFor(old, p)
	switch change {
	case peerUnchanged:
		return nil
	case peerBFDUpdated:
		// A BFD change, or a retry of BFD refused before, leaves the
		// BGP session alone.
		if err := e.updateBFD(ctx, old, p); err != nil {
			return []error{err}
		}
		return nil
	}
	var paths []bgp.Path
	if change == peerReset {
		paths = e.stopForReset(old)
	}
	ps, errs := e.startServer(ctx, p)
	if ps == nil {
		return errs
	}
	if change == peerAdded {
		e.logger.Info("added BGP peer", "peer", p.Name, "address", p.Address, "peerASN", p.PeerASN, "localASN", p.LocalASN)
	}
	if err := ps.reconcile(pathsWithNextHop(paths, p)); err != nil {
		errs = append(errs, fmt.Errorf("announce paths again to peer %q: %w", p.Name, err))
	}
	e.setAnnounced(p.Name, ps)
	// A new peer's session opens with the first ReconcilePaths, which
	// gives it its paths; a reset peer already has them.
	if change == peerReset {
		if err := ps.addNeighbor(ctx); err != nil {
			errs = append(errs, fmt.Errorf("peer %q: %w", p.Name, err))
		}
	}
	return errs
}

// stopForReset stops the server of a peer whose settings changed and
// returns the paths it announced, for its new server.
func (e *Engine) stopForReset(old *peerServer) []bgp.Path {
	paths := sortedPaths(old.announced)
	old.stop()
	delete(e.peers, old.cfg.Name)
	e.logger.Info("resetting BGP peer because its settings changed", "peer", old.cfg.Name)
	return paths
}

// startServer starts a server for p and makes it the peer's. A server
// that fails to start is reported in the error and in the peer's session,
// and leaves the peer without a server (ps is nil). A server whose BFD
// could not be turned on runs without it, and the errors say why.
func (e *Engine) startServer(ctx context.Context, p bgp.Peer) (ps *peerServer, errs []error) {
	ps, err := e.startPeer(ctx, p)
	if err != nil {
		err = fmt.Errorf("start peer %q: %w", p.Name, err)
		e.setSession(p.Name, nil, err.Error())
		return nil, []error{err}
	}
	e.peers[p.Name] = ps
	if ps.bfdProblem != nil {
		errs = append(errs, ps.bfdProblem)
	}
	return ps, errs
}

// pathsWithNextHop returns the paths that p has a next hop for. The
// others are dropped; the next ReconcilePaths reports them if they are
// still asked for.
func pathsWithNextHop(paths []bgp.Path, p bgp.Peer) []bgp.Path {
	var keep []bgp.Path
	for _, path := range paths {
		if p.NextHopFor(path.Prefix).IsValid() {
			keep = append(keep, path)
		}
	}
	return keep
}

// ReconcilePaths implements bgp.Engine. Invalid paths and paths for peers
// that are not configured are skipped and reported in the error; the rest
// is applied. The response lists peers that announce at least one path.
func (e *Engine) ReconcilePaths(ctx context.Context, req bgp.ReconcilePathsRequest) (bgp.ReconcilePathsResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return e.announcedLocked(), bgp.ErrStopped
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(req.Paths)) {
		if _, ok := e.peers[name]; !ok {
			errs = append(errs, fmt.Errorf("peer %q is not configured", name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(e.peers)) {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		ps := e.peers[name]
		if err := ps.reconcile(req.Paths[name]); err != nil {
			errs = append(errs, fmt.Errorf("paths for peer %q: %w", name, err))
		}
		e.setAnnounced(name, ps)
		if _, listed := req.Paths[name]; !listed {
			continue // a session opens only with a table of its own
		}
		if err := ps.addNeighbor(ctx); err != nil {
			errs = append(errs, fmt.Errorf("peer %q: %w", name, err))
		}
	}
	return e.announcedLocked(), errors.Join(errs...)
}

// Sessions implements bgp.Engine. Sessions are sorted by peer name.
func (e *Engine) Sessions(ctx context.Context) ([]bgp.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.stateMu.Lock()
	out := make([]bgp.Session, 0, len(e.sessions))
	servers := make([]*peerServer, 0, len(e.sessions))
	for _, name := range slices.Sorted(maps.Keys(e.sessions)) {
		out = append(out, e.sessions[name].session)
		servers = append(servers, e.sessions[name].server)
	}
	e.stateMu.Unlock()
	// The BFD state is asked of each server outside the lock, so that
	// session events are not held up by it.
	for i, ps := range servers {
		if ps != nil {
			out[i].BFD = ps.bfdState(ctx)
		}
	}
	return out, nil
}

// SessionChanges implements bgp.Engine.
func (e *Engine) SessionChanges() <-chan bgp.Session { return e.feed.C() }

// Stop implements bgp.Engine. All servers stop in parallel. With
// KeepRoutes, a session that carries paths and on which graceful restart
// was negotiated is closed without a NOTIFICATION, so that the peer keeps
// the routes as stale; any other session is closed with a Cease
// NOTIFICATION, since its peer has nothing to keep or would drop the
// routes anyway. If ctx ends
// first, Stop returns its error and the servers finish stopping in the
// background. A second Stop does nothing.
func (e *Engine) Stop(ctx context.Context, req bgp.StopRequest) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return nil
	}
	e.stopped = true
	e.logger.Info("stopping BGP engine", "peers", len(e.peers), "keepRoutes", req.KeepRoutes)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, ps := range e.peers {
		// A session without paths gains nothing from graceful restart,
		// and its restart timer is what crashes FRR 8.4's bgpd when the
		// router knows this node as a dynamic neighbour (the timer fires
		// on a peer the router has already freed).
		keep := req.KeepRoutes && len(ps.announced) > 0
		wg.Go(func() {
			if keep {
				ps.stopKeepingRoutes()
			} else {
				ps.stop()
			}
		})
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("stop BGP engine: %w", ctx.Err())
	}
	e.endSessions()
	e.feed.Close()
	return err
}

// endSessions reports every session as Idle once the engine stops, and
// its BFD session, if it asks for one, as Down. It detaches the servers,
// so that the events that stopping servers still send are ignored and
// Sessions does not ask a stopped server for its BFD state.
func (e *Engine) endSessions() {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	now := time.Now()
	for _, rec := range e.sessions {
		if rec.server != nil && rec.server.cfg.BFD != nil {
			rec.session.BFD = bgp.BFDDown
		}
		rec.server = nil
		if rec.session.State != bgp.StateIdle {
			rec.session.State, rec.session.Since = bgp.StateIdle, now
		}
	}
}

func (e *Engine) announcedLocked() bgp.ReconcilePathsResponse {
	resp := bgp.ReconcilePathsResponse{Announced: make(map[string][]bgp.Path)}
	for name, ps := range e.peers {
		if len(ps.announced) > 0 {
			resp.Announced[name] = sortedPaths(ps.announced)
		}
	}
	return resp
}

// setSession makes ps the peer's current server, with a new session in
// StateIdle, and delivers the change. lastError replaces the previous one
// if not empty.
func (e *Engine) setSession(name string, ps *peerServer, lastError string) {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	rec, ok := e.sessions[name]
	if !ok {
		rec = &sessionRecord{session: bgp.Session{Peer: name}}
		e.sessions[name] = rec
	}
	rec.server = ps
	rec.session.State = bgp.StateIdle
	rec.session.Since = time.Now()
	rec.session.Announced = 0
	rec.session.GracefulRestart = false
	if lastError != "" {
		rec.session.LastError = lastError
	}
	e.feed.Publish(name, rec.session)
}

func (e *Engine) forgetSession(name string) {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	delete(e.sessions, name)
}

func (e *Engine) sessionNames() []string {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	return slices.Sorted(maps.Keys(e.sessions))
}

// setAnnounced updates the announced count of the peer's session. The
// count is status, not a state change; it is not delivered on
// SessionChanges.
func (e *Engine) setAnnounced(name string, ps *peerServer) {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	if rec, ok := e.sessions[name]; ok && rec.server == ps {
		rec.session.Announced = len(ps.announced)
	}
}

// sessionEvent records a state change reported by the peer's server
// ps. Events of a server that is no longer the peer's current one are
// ignored.
func (e *Engine) sessionEvent(ps *peerServer, state bgp.SessionState, at time.Time, lastError string, gracefulRestart bool) {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	rec, ok := e.sessions[ps.cfg.Name]
	if !ok || rec.server != ps {
		return
	}
	if rec.session.State == state && lastError == "" {
		return
	}
	rec.session.State = state
	rec.session.Since = at
	rec.session.GracefulRestart = gracefulRestart
	if lastError != "" {
		rec.session.LastError = lastError
	}
	e.feed.Publish(ps.cfg.Name, rec.session)
}

// sessionError makes lastError the last error of the session of ps, and
// delivers the change, without a change of state: a NOTIFICATION sent or
// received while the session opens leaves it in Active. Errors of a
// server that is no longer the peer's current one are ignored.
func (e *Engine) sessionError(ps *peerServer, lastError string) {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	rec, ok := e.sessions[ps.cfg.Name]
	if !ok || rec.server != ps || rec.session.LastError == lastError {
		return
	}
	rec.session.LastError = lastError
	e.feed.Publish(ps.cfg.Name, rec.session)
}

func sortedPaths[M ~map[K]bgp.Path, K comparable](paths M) []bgp.Path {
	out := make([]bgp.Path, 0, len(paths))
	for _, p := range paths {
		out = append(out, p.Clone())
	}
	slices.SortFunc(out, func(a, b bgp.Path) int { return comparePrefixes(a.Prefix, b.Prefix) })
	return out
}
