package gobgp

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/config/oc"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/bgplb/bgplb/internal/bgp"
)

// DefaultConnectRetry is the connect retry of a Peer that leaves it at
// zero. It replaces GoBGP's own default of 120 s, which would leave a peer
// that was down at start-up unconnected for two minutes. GoBGP never
// retries faster than every 2 s. The default hold time is
// bgp.DefaultHoldTime.
const DefaultConnectRetry = 5 * time.Second

// importPolicyName names the import policy that keeps received paths out
// of the RIB.
const importPolicyName = "bgplb-reject-received"

// startBgpMu keeps StartBgp calls of different servers apart, engines
// included: GoBGP's StartBgp writes the package variables
// table.SelectionOptions and table.UseMultiplePaths, which every server's
// best-path code reads. All servers write the same (default) values, so
// the remaining overlap of one server's StartBgp with another server's
// reads is harmless, but the race detector reports it when it happens.
var startBgpMu sync.Mutex

// peerServer is the GoBGP server of one peer and what it announces.
type peerServer struct {
	// cfg is the peer as requested; effective is what the server runs,
	// which differs only when BFD could not be turned on (bfdProblem says
	// why).
	cfg        bgp.Peer
	effective  bgp.Peer
	bfdProblem error
	// bfdDevice is the interface the server's BFD listener is bound to.
	bfdDevice string
	srv       *server.BgpServer
	logger    *slog.Logger
	// stopWatch ends the watch of the server's peer events.
	stopWatch context.CancelFunc
	// announced is what the server's RIB holds, by prefix.
	announced map[netip.Prefix]bgp.Path
	// neighborAdded tells whether the neighbor is configured, that is
	// whether the session may open.
	neighborAdded bool
	// bfdStarted is set once BFD has been added to the neighbor.
	bfdStarted atomic.Bool
	// bfdMu guards effective.BFD and bfdProblem against startBFD, which
	// runs from the server's event callback.
	bfdMu sync.Mutex
	// closing is set when bgplb closes the session itself, so that the
	// Cease it sends is not taken for the session's failure.
	closing atomic.Bool
	// notifications remembers what GoBGP logged last (see
	// notificationHandler).
	notifications notificationMemory
}

// startPeer starts a server for p with no paths and, as yet, no neighbor:
// addNeighbor opens the session once the server holds its paths. The
// peer's session record points at the new server before the neighbor is
// added, so that none of its events is lost.
func (e *Engine) startPeer(ctx context.Context, p bgp.Peer) (*peerServer, error) {
	logger := e.logger.With("peer", p.Name)
	ps := &peerServer{
		cfg:       p,
		effective: p,
		logger:    logger,
		announced: make(map[netip.Prefix]bgp.Path),
	}
	// The BFD listener is bound to the interface towards the peer even
	// without BFD, so that BFD can be turned on later without a reset.
	dev, devErr := egressInterface(p)
	ps.bfdDevice = dev
	e.chooseBFD(ps, devErr)
	gobgpLog := newNotificationHandler(logger.With("component", "gobgp").Handler(), func(n notification) {
		e.notificationLogged(ps, n)
	})
	ps.srv = server.NewBgpServer(server.LoggerOption(slog.New(gobgpLog), nil))
	go ps.srv.Serve()
	ok := false
	defer func() {
		if !ok {
			ps.stop()
		}
	}()

	startBgpMu.Lock()
	err := ps.srv.StartBgp(ctx, &api.StartBgpRequest{Global: globalConfig(p, ps.bfdDevice)})
	startBgpMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("start GoBGP server: %w", err)
	}
	if err := ps.srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: importPolicy()}); err != nil {
		return nil, fmt.Errorf("add import policy: %w", err)
	}
	if err := ps.srv.SetPolicyAssignment(ctx, importAssignment()); err != nil {
		return nil, fmt.Errorf("set import policy: %w", err)
	}
	watchCtx, cancel := context.WithCancel(context.Background())
	ps.stopWatch = cancel
	err = ps.srv.WatchEvent(watchCtx, server.WatchEventMessageCallbacks{
		OnPeerUpdate: func(ev *apiutil.WatchEventMessage_PeerEvent, at time.Time) {
			e.peerEvent(ps, ev, at)
		},
	}, server.WatchPeer())
	if err != nil {
		return nil, fmt.Errorf("watch peer events: %w", err)
	}
	e.setSession(p.Name, ps, "")
	ok = true
	return ps, nil
}

// addNeighbor configures the server's neighbor, which opens the session.
// GoBGP sends the whole RIB and then End-of-RIB as soon as the session is
// Established, and a router helping a graceful restart drops this node's
// stale routes when End-of-RIB arrives; so the neighbor is only added once
// the RIB holds every path, or a restarting speaker would withdraw, for a
// moment, whatever it had not added yet.
func (ps *peerServer) addNeighbor(ctx context.Context) error {
	if ps.neighborAdded {
		return nil
	}
	// BFD starts once the session is Established (see startBFD).
	withoutBFD := ps.effective
	withoutBFD.BFD = nil
	if err := ps.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: peerConfig(withoutBFD)}); err != nil {
		// GoBGP's errors about a neighbor name its address, never its
		// password.
		return fmt.Errorf("add neighbor %s: %w", ps.cfg.Address, err)
	}
	ps.neighborAdded = true
	return nil
}

// startBFD adds BFD to the neighbor once its BGP session is Established.
//
// FRR re-creates its BFD session for a neighbor when the BGP session comes
// up and fixes the local address, and the new session starts by sending
// Down. A GoBGP BFD session that was already Up takes that Down as the
// peer's failure and resets the BGP session it was meant to protect, and
// the reset repeats on every restart. Started after Established, the BFD
// session comes up once, against the router's final session. Adding BFD to
// a neighbor does not reset its BGP session.
func (ps *peerServer) startBFD() {
	ps.bfdMu.Lock()
	cfg := ps.effective
	ps.bfdMu.Unlock()
	if cfg.BFD == nil || !ps.bfdStarted.CompareAndSwap(false, true) {
		return
	}
	// The peer's event callback must not wait for the server it reports
	// from.
	go func() {
		if _, err := ps.srv.UpdatePeer(context.Background(), &api.UpdatePeerRequest{Peer: peerConfig(cfg)}); err != nil {
			// The next Established tries again; a stopped server fails
			// here too, harmlessly.
			ps.bfdStarted.Store(false)
			ps.logger.Warn("could not start BFD", "error", err)
			return
		}
		ps.logger.Info("started BFD", "receiveInterval", cfg.BFD.ReceiveInterval,
			"transmitInterval", cfg.BFD.TransmitInterval, "detectMultiplier", cfg.BFD.DetectMultiplier)
	}()
}

// stop ends the peer's session with a Cease NOTIFICATION (if it is up) and
// releases the server.
func (ps *peerServer) stop() {
	ps.closing.Store(true)
	ps.srv.Stop()
	if ps.stopWatch != nil {
		ps.stopWatch()
	}
}

// stopKeepingRoutes ends the peer's session without a NOTIFICATION if
// graceful restart was negotiated on it, so that the peer keeps the routes
// as stale until this node is back or the restart time runs out.
//
// GoBGP's StopBgp with AllowGracefulRestart closes the connection without
// a NOTIFICATION for neighbors that negotiated graceful restart and sends
// a Cease to the others. BgpServer.Stop cannot be used afterwards (it would
// stop BGP again, sending nothing but logging an error), so the server's
// idle BFD goroutine is left behind; this is only done when the process is
// about to exit.
func (ps *peerServer) stopKeepingRoutes() {
	ps.closing.Store(true)
	if err := ps.srv.StopBgp(context.Background(), &api.StopBgpRequest{AllowGracefulRestart: true}); err != nil {
		ps.logger.Warn("stopping BGP while keeping routes failed", "error", err)
	}
	if ps.stopWatch != nil {
		ps.stopWatch()
	}
}

// peerEvent turns a GoBGP peer event into a session change.
func (e *Engine) peerEvent(ps *peerServer, ev *apiutil.WatchEventMessage_PeerEvent, at time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	state, ok := sessionState(ev.Peer.State.SessionState)
	if !ok {
		return
	}
	gracefulRestart := false
	if state == bgp.StateEstablished {
		ps.startBFD()
		gracefulRestart = ps.effective.GracefulRestart.Enabled && offersGracefulRestart(ev.Peer.State.RemoteCap)
	}
	// Every state event, failure or not, closes the window in which a
	// logged NOTIFICATION explains the next one, so that a NOTIFICATION
	// only ever explains the change it caused.
	notified := ps.notifications.forEvent(at)
	lastError := ""
	reason := ev.Peer.State.DisconnectReason
	switch {
	case reason == api.PeerState_DISCONNECT_REASON_INVALID_MSG && notified == "":
		// The last error waits for what the unexpected message was.
		go e.explainInvalidMessage(ps, ev.Peer.State.DisconnectMessage)
	case isFailure(reason):
		lastError = cmp.Or(notified, ev.Peer.State.DisconnectMessage)
	}
	attrs := []any{"state", state}
	if msg := ev.Peer.State.DisconnectMessage; msg != "" {
		attrs = append(attrs, "reason", msg)
	}
	// A failure is worth an operator's attention also while its last
	// error is still being worked out.
	if state == bgp.StateEstablished || isFailure(reason) {
		ps.logger.Info("BGP session changed state", attrs...)
	} else {
		ps.logger.Debug("BGP session changed state", attrs...)
	}
	e.sessionEvent(ps, state, at, lastError, gracefulRestart)
}

// notificationLogged records a NOTIFICATION that the peer's server logged
// as the session's last error. The NOTIFICATION that answers the router's
// OPEN with a wrong AS changes no session state, so this is the only way
// it reaches the session. The Cease that bgplb's own closing of the
// session sends is ignored.
func (e *Engine) notificationLogged(ps *peerServer, n notification) {
	if ps.closing.Load() {
		return
	}
	ps.notifications.record(n, time.Now())
	e.sessionError(ps, n.String())
}

// unloggedNotification is the last error of a session that the router
// refused with a NOTIFICATION that GoBGP did not report.
const unloggedNotification = "received NOTIFICATION before the session was established (GoBGP does not report its code; the router's log has it)"

// explainInvalidMessage sets the last error of a session that GoBGP closed
// because of an unexpected message while it opened. GoBGP v4.8.0 neither
// logs nor passes on a NOTIFICATION that the router sends in OpenConfirm,
// which is where a router that refuses this node's AS or router ID sends
// it: it only reports the message as invalid. It does count it, so the
// count tells whether the message was a NOTIFICATION, which is what a user
// needs to know to look at the router. It runs in its own goroutine, since
// the event callback must not wait for the server it reports from.
func (e *Engine) explainInvalidMessage(ps *peerServer, gobgpReason string) {
	var total uint64
	err := ps.srv.ListPeer(context.Background(), &api.ListPeerRequest{Address: ps.cfg.Address.String()}, func(p *api.Peer) {
		total = p.GetState().GetMessages().GetReceived().GetNotification()
	})
	if ps.closing.Load() {
		return
	}
	if err != nil || !ps.notifications.unloggedReceived(total) {
		e.sessionError(ps, gobgpReason)
		return
	}
	ps.logger.Info("the router sent a NOTIFICATION while the session was opening; GoBGP does not report its code")
	e.sessionError(ps, unloggedNotification)
}

// offersGracefulRestart tells whether the peer's OPEN carried the graceful
// restart capability (RFC 4724).
func offersGracefulRestart(caps []gobgp.ParameterCapabilityInterface) bool {
	for _, c := range caps {
		if c.Code() == gobgp.BGP_CAP_GRACEFUL_RESTART {
			return true
		}
	}
	return false
}

func sessionState(s gobgp.FSMState) (bgp.SessionState, bool) {
	switch s {
	case gobgp.BGP_FSM_IDLE:
		return bgp.StateIdle, true
	case gobgp.BGP_FSM_CONNECT:
		return bgp.StateConnect, true
	case gobgp.BGP_FSM_ACTIVE:
		return bgp.StateActive, true
	case gobgp.BGP_FSM_OPENSENT:
		return bgp.StateOpenSent, true
	case gobgp.BGP_FSM_OPENCONFIRM:
		return bgp.StateOpenConfirm, true
	case gobgp.BGP_FSM_ESTABLISHED:
		return bgp.StateEstablished, true
	}
	return "", false
}

// isFailure reports whether a state change for reason r means that the
// session failed, as opposed to progressing or being removed by bgplb.
func isFailure(r api.PeerState_DisconnectReason) bool {
	switch r {
	case api.PeerState_DISCONNECT_REASON_ADMIN_DOWN,
		api.PeerState_DISCONNECT_REASON_HOLD_TIMER_EXPIRED,
		api.PeerState_DISCONNECT_REASON_NOTIFICATION_SENT,
		api.PeerState_DISCONNECT_REASON_NOTIFICATION_RECEIVED,
		api.PeerState_DISCONNECT_REASON_READ_FAILED,
		api.PeerState_DISCONNECT_REASON_WRITE_FAILED,
		api.PeerState_DISCONNECT_REASON_RESTART_TIMER_EXPIRED,
		api.PeerState_DISCONNECT_REASON_GRACEFUL_RESTART,
		api.PeerState_DISCONNECT_REASON_INVALID_MSG,
		api.PeerState_DISCONNECT_REASON_HARD_RESET,
		api.PeerState_DISCONNECT_REASON_BAD_PEER_AS:
		return true
	}
	return false
}

// globalConfig is the configuration of the peer's own server: it takes
// the peer's local ASN and router ID, and never listens for BGP. Its BFD
// listener, if any, is bound to bfdDevice.
func globalConfig(p bgp.Peer, bfdDevice string) *api.Global {
	return &api.Global{
		Asn:          p.LocalASN,
		RouterId:     p.RouterID.String(),
		ListenPort:   -1,
		BindToDevice: bfdDevice,
		Families: []uint32{
			uint32(oc.AfiSafiTypeToIntMap[oc.AFI_SAFI_TYPE_IPV4_UNICAST]),
			uint32(oc.AfiSafiTypeToIntMap[oc.AFI_SAFI_TYPE_IPV6_UNICAST]),
		},
	}
}

// importPolicy rejects every path but the server's own. An import policy
// also applies to paths added locally, so a plain default of reject would
// withdraw bgplb's own paths too.
func importPolicy() *api.Policy {
	return &api.Policy{
		Name: importPolicyName,
		Statements: []*api.Statement{{
			Name:       importPolicyName + "-accept-local",
			Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT},
		}},
	}
}

// importAssignment makes importPolicy the server's import policy, with
// reject for every path it does not accept.
func importAssignment() *api.SetPolicyAssignmentRequest {
	return &api.SetPolicyAssignmentRequest{
		Assignment: &api.PolicyAssignment{
			Name:          "global",
			Direction:     api.PolicyDirection_POLICY_DIRECTION_IMPORT,
			Policies:      []*api.Policy{{Name: importPolicyName}},
			DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT,
		},
	}
}

// peerConfig is the GoBGP neighbor for p.
func peerConfig(p bgp.Peer) *api.Peer {
	hold := cmp.Or(p.HoldTime, bgp.DefaultHoldTime)
	keepalive := cmp.Or(p.KeepaliveTime, hold/3)
	n := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: p.Address.String(),
			PeerAsn:         p.PeerASN,
			LocalAsn:        p.LocalASN,
			AuthPassword:    p.Password,
			Description:     p.Name,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:      seconds(cmp.Or(p.ConnectRetry, DefaultConnectRetry)),
			HoldTime:          seconds(hold),
			KeepaliveInterval: seconds(keepalive),
		}},
		Transport: &api.Transport{
			RemotePort: uint32(p.Port),
		},
	}
	if p.SourceAddress.IsValid() {
		n.Transport.LocalAddress = p.SourceAddress.String()
	}
	if p.EBGPMultihopTTL > 0 {
		n.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(p.EBGPMultihopTTL)}
	}
	if p.GracefulRestart.Enabled {
		n.GracefulRestart = &api.GracefulRestart{
			Enabled:     true,
			RestartTime: uint32(seconds(p.GracefulRestart.RestartTime)),
		}
	}
	if b := p.BFD; b != nil {
		n.Bfd = &api.BfdPeerConfig{
			Enabled: true,
			// GoBGP sends to this port and does not default it when a
			// neighbor is added through its API.
			Port:                     bfdPort,
			DesiredMinimumTxInterval: uint32(b.TransmitInterval.Microseconds()),
			RequiredMinimumReceive:   uint32(b.ReceiveInterval.Microseconds()),
			DetectionMultiplier:      uint32(b.DetectMultiplier),
		}
	}
	for _, fam := range []struct {
		nextHop netip.Addr
		afi     api.Family_Afi
	}{
		{p.NextHopIPv4, api.Family_AFI_IP},
		{p.NextHopIPv6, api.Family_AFI_IP6},
	} {
		if !fam.nextHop.IsValid() {
			continue
		}
		as := &api.AfiSafi{Config: &api.AfiSafiConfig{
			Family:  &api.Family{Afi: fam.afi, Safi: api.Family_SAFI_UNICAST},
			Enabled: true,
		}}
		if p.GracefulRestart.Enabled {
			as.MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
		}
		n.AfiSafis = append(n.AfiSafis, as)
	}
	return n
}

// seconds rounds d up to whole seconds, the unit of every BGP timer.
func seconds(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Second - 1) / time.Second)
}
