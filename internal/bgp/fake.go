package bgp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/bgplb/bgplb/internal/bgp/internal/latest"
)

// Fake is an in-memory Engine for tests of the code that drives an Engine.
// It keeps the peers and each peer's announced paths, applies the same
// diff rules as the real engine, and counts what a real engine would have
// sent: Updates counts path advertisements and withdrawals, PeerResets
// counts sessions reset because their settings changed. Sessions do not
// change state by themselves; a test sets them with SetSessionState.
//
// It follows the rules of every Engine, which the conformance suite in
// package bgptest checks for the Fake and the real engine alike: peers
// need a unique name and must pass Peer.Validate, and are validated all at
// once (an invalid request changes nothing). A path needs a masked prefix
// whose family has a next hop on the peer; invalid paths and paths for
// peers that are not configured are skipped and reported in the error, the
// rest of the request is applied. A peer whose settings change keeps its
// paths, except those of a family that no longer has a next hop; a change
// of BFD settings alone is no reset.
//
// A Fake must be created with NewFake. Its methods are safe for concurrent
// use.
type Fake struct {
	feed *latest.Feed[Session]

	mu         sync.Mutex
	peers      map[string]Peer
	paths      map[string]map[netip.Prefix]Path
	sessions   map[string]Session
	updates    int
	peerResets int
	pathCalls  int
	stop       *StopRequest
	peersErr   error
	pathsErr   map[string]error
}

// NewFake returns a Fake with no peers.
func NewFake() *Fake {
	return &Fake{
		feed:     latest.New[Session](),
		peers:    make(map[string]Peer),
		paths:    make(map[string]map[netip.Prefix]Path),
		sessions: make(map[string]Session),
		pathsErr: make(map[string]error),
	}
}

var _ Engine = (*Fake)(nil)

// ReconcilePeers implements Engine. New peers start in StateIdle; a peer
// whose settings changed is reset to StateIdle, unless only its BFD
// settings changed; a removed peer loses its session and its paths.
func (f *Fake) ReconcilePeers(ctx context.Context, req ReconcilePeersRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stop != nil {
		return ErrStopped
	}
	if f.peersErr != nil {
		return f.peersErr
	}
	want, err := req.PeersByName()
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(f.peers)) {
		if _, ok := want[name]; !ok {
			delete(f.peers, name)
			delete(f.paths, name)
			delete(f.sessions, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		p := want[name]
		old, ok := f.peers[name]
		f.peers[name] = p
		switch {
		case !ok:
			f.paths[name] = make(map[netip.Prefix]Path)
			f.startSessionLocked(name, "")
		case !old.EqualButBFD(p):
			f.peerResets++
			for pfx := range f.paths[name] {
				if !p.NextHopFor(pfx).IsValid() {
					delete(f.paths[name], pfx)
				}
			}
			f.startSessionLocked(name, f.sessions[name].LastError)
		}
	}
	return nil
}

// startSessionLocked gives the peer a new session in StateIdle, which
// keeps lastError, and delivers it.
func (f *Fake) startSessionLocked(name, lastError string) {
	s := Session{Peer: name, State: StateIdle, Since: time.Now(), LastError: lastError, Announced: len(f.paths[name])}
	f.sessions[name] = s
	f.feed.Publish(name, s)
}

// ReconcilePaths implements Engine.
func (f *Fake) ReconcilePaths(ctx context.Context, req ReconcilePathsRequest) (ReconcilePathsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pathCalls++
	if err := ctx.Err(); err != nil {
		return f.announcedLocked(), err
	}
	if f.stop != nil {
		return f.announcedLocked(), ErrStopped
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(req.Paths)) {
		if _, ok := f.peers[name]; !ok {
			errs = append(errs, fmt.Errorf("peer %q is not configured", name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(f.peers)) {
		if err := f.pathsErr[name]; err != nil {
			errs = append(errs, fmt.Errorf("paths for peer %q: %w", name, err))
			continue
		}
		wanted, err := WantedPaths(f.peers[name], req.Paths[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("paths for peer %q: %w", name, err))
		}
		have := f.paths[name]
		for pfx := range have {
			if _, ok := wanted[pfx]; !ok {
				delete(have, pfx)
				f.updates++
			}
		}
		for pfx, p := range wanted {
			if old, ok := have[pfx]; ok && old.Equal(p) {
				continue
			}
			have[pfx] = p.Clone()
			f.updates++
		}
		if s := f.sessions[name]; s.Announced != len(have) {
			// The count is status, not a state change; it is not
			// delivered on SessionChanges.
			s.Announced = len(have)
			f.sessions[name] = s
		}
	}
	return f.announcedLocked(), errors.Join(errs...)
}

// Sessions implements Engine. Sessions are sorted by peer name. The Fake
// runs no BFD session, so a peer with BFD reports BFD Down, as a real
// engine does before its BFD session comes up.
func (f *Fake) Sessions(ctx context.Context) ([]Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Session, 0, len(f.sessions))
	for _, name := range slices.Sorted(maps.Keys(f.sessions)) {
		s := f.sessions[name]
		if f.peers[name].BFD != nil {
			s.BFD = BFDDown
		}
		out = append(out, s)
	}
	return out, nil
}

// SessionChanges implements Engine.
func (f *Fake) SessionChanges() <-chan Session { return f.feed.C() }

// Stop implements Engine. It records the request (see Stopped), closes every
// session and the SessionChanges channel. Later calls of the other methods
// fail; a second Stop does nothing.
func (f *Fake) Stop(ctx context.Context, req StopRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stop != nil {
		return nil
	}
	f.stop = &req
	for name, s := range f.sessions {
		if s.State != StateIdle {
			s.State, s.Since = StateIdle, time.Now()
			f.sessions[name] = s
		}
	}
	f.feed.Close()
	return nil
}

// SetSessionState moves a peer's session to state, as the real engine does
// when its session changes, and delivers the change on SessionChanges.
// lastError, if not empty, becomes the session's LastError. It fails if
// the peer is not configured.
func (f *Fake) SetSessionState(peer string, state SessionState, lastError string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[peer]
	if !ok {
		return fmt.Errorf("set session state: peer %q is not configured", peer)
	}
	if s.State != state {
		s.State, s.Since = state, time.Now()
	}
	if lastError != "" {
		s.LastError = lastError
	}
	f.sessions[peer] = s
	f.feed.Publish(peer, s)
	return nil
}

// FailPeers makes every later ReconcilePeers return err without changing
// anything, until FailPeers(nil).
func (f *Fake) FailPeers(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peersErr = err
}

// FailPaths makes every later ReconcilePaths leave the paths of peer as
// they are and report err for it, until FailPaths(peer, nil). Other peers
// are reconciled as usual.
func (f *Fake) FailPaths(peer string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.pathsErr, peer)
		return
	}
	f.pathsErr[peer] = err
}

// Peers returns the configured peers, sorted by name.
func (f *Fake) Peers() []Peer {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Peer, 0, len(f.peers))
	for _, name := range slices.Sorted(maps.Keys(f.peers)) {
		out = append(out, f.peers[name])
	}
	return out
}

// Paths returns the paths announced to peer, sorted by prefix.
func (f *Fake) Paths(peer string) []Path {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sortedPaths(f.paths[peer])
}

// Updates returns how many path advertisements and withdrawals the Fake
// has sent in total. Unchanged paths and resets send nothing.
func (f *Fake) Updates() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.updates
}

// PeerResets returns how many sessions were reset because their settings
// changed. Adding and removing peers are not resets.
func (f *Fake) PeerResets() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.peerResets
}

// Stopped reports whether Stop was called and with which request.
func (f *Fake) Stopped() (StopRequest, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stop == nil {
		return StopRequest{}, false
	}
	return *f.stop, true
}

func (f *Fake) announcedLocked() ReconcilePathsResponse {
	resp := ReconcilePathsResponse{Announced: make(map[string][]Path)}
	for name, paths := range f.paths {
		if len(paths) > 0 {
			resp.Announced[name] = sortedPaths(paths)
		}
	}
	return resp
}

func sortedPaths(paths map[netip.Prefix]Path) []Path {
	out := make([]Path, 0, len(paths))
	for _, p := range paths {
		out = append(out, p.Clone())
	}
	slices.SortFunc(out, func(a, b Path) int { return comparePrefixes(a.Prefix, b.Prefix) })
	return out
}

func comparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// PathCalls counts ReconcilePaths calls, whether or not they changed
// anything, so a test can tell that a recompute has run.
func (f *Fake) PathCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pathCalls
}
