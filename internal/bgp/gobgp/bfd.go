package gobgp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/osrg/gobgp/v4/api"

	"github.com/bgplb/bgplb/internal/bgp"
)

// bfdPort is where BFD control packets for single-hop sessions arrive
// (RFC 5881).
const bfdPort = 3784

// chooseBFD decides whether ps runs the BFD its requested settings ask
// for, and records why not in bfdProblem. devErr is why the interface
// towards the peer is unknown, if it is.
//
// GoBGP gives each server its own BFD listener on UDP port 3784. Several
// listeners on one port receive nothing reliably unless each is bound to a
// different interface: the kernel hands every packet to one of them, and a
// BFD session whose packets go to another server never comes up, which
// GoBGP answers by resetting the BGP session. So BFD runs for at most one
// peer per interface; a later peer through the same interface runs
// without it until the first one gives it up.
func (e *Engine) chooseBFD(ps *peerServer, devErr error) {
	ps.bfdMu.Lock()
	defer ps.bfdMu.Unlock()
	ps.effective.BFD = ps.cfg.BFD
	ps.bfdProblem = nil
	if ps.cfg.BFD == nil {
		return
	}
	err := devErr
	if err == nil {
		for name, other := range e.peers {
			if name != ps.cfg.Name && other.bfdDevice == ps.bfdDevice && other.runsBFD() {
				err = fmt.Errorf("peer %q already runs BFD through interface %s, and only one BFD session per interface is supported", name, ps.bfdDevice)
				break
			}
		}
	}
	if err != nil {
		ps.effective.BFD = nil
		ps.bfdProblem = fmt.Errorf("BFD is off for peer %q: %w", ps.cfg.Name, err)
		ps.logger.Warn("BFD is off", "reason", err.Error())
	}
}

func (ps *peerServer) runsBFD() bool {
	ps.bfdMu.Lock()
	defer ps.bfdMu.Unlock()
	return ps.effective.BFD != nil
}

// updateBFD applies p, which differs from ps's settings in BFD at most,
// without resetting the BGP session: GoBGP adds, changes or removes a
// neighbor's BFD in place.
func (e *Engine) updateBFD(ctx context.Context, ps *peerServer, p bgp.Peer) error {
	ps.bfdMu.Lock()
	before := ps.effective.BFD
	ps.cfg, ps.effective = p, p
	ps.bfdMu.Unlock()
	e.chooseBFD(ps, nil)
	ps.bfdMu.Lock()
	cfg, problem := ps.effective, ps.bfdProblem
	ps.bfdMu.Unlock()
	if before.Equal(cfg.BFD) {
		return problem
	}
	// Before Established, startBFD applies the settings when the session
	// comes up; after, they are applied now.
	if !ps.bfdStarted.Load() && !e.established(p.Name, ps) {
		return problem
	}
	ps.bfdStarted.Store(cfg.BFD != nil)
	if _, err := ps.srv.UpdatePeer(ctx, &api.UpdatePeerRequest{Peer: peerConfig(cfg)}); err != nil {
		return errors.Join(problem, fmt.Errorf("update BFD of peer %q: %w", p.Name, err))
	}
	ps.logger.Info("BFD settings applied without a reset", "bfd", cfg.BFD != nil)
	return problem
}

func (e *Engine) established(name string, ps *peerServer) bool {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	rec, ok := e.sessions[name]
	return ok && rec.server == ps && rec.session.State == bgp.StateEstablished
}

// egressInterface finds the interface the kernel would use to send to
// p's address. Connecting a UDP socket chooses the route without sending
// anything.
func egressInterface(p bgp.Peer) (string, error) {
	var from *net.UDPAddr
	if p.SourceAddress.IsValid() {
		from = net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.SourceAddress, 0))
	}
	remote := net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.Address, bfdPort))
	conn, err := net.DialUDP("udp", from, remote)
	if err != nil {
		return "", fmt.Errorf("find the interface towards %s: %w", p.Address, err)
	}
	local := conn.LocalAddr().(*net.UDPAddr)
	conn.Close()
	if local.Zone != "" {
		// A link-local source names its interface.
		return local.Zone, nil
	}
	src := local.AddrPort().Addr().Unmap().WithZone("")
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("list interfaces: %w", err)
	}
	for _, iface := range ifaces {
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == src {
					return iface.Name, nil
				}
			}
		}
	}
	return "", fmt.Errorf("no interface holds %s, the source address towards %s", src, net.JoinHostPort(p.Address.String(), strconv.Itoa(bfdPort)))
}

// bfdState reports the state of the server's BFD session in bgp.Session
// terms: "" without BFD, Down while BFD waits for the BGP session or
// could not be started.
func (ps *peerServer) bfdState(ctx context.Context) string {
	ps.bfdMu.Lock()
	wanted, addr := ps.cfg.BFD != nil, ps.cfg.Address
	ps.bfdMu.Unlock()
	if !wanted {
		return ""
	}
	if !ps.bfdStarted.Load() {
		return bgp.BFDDown
	}
	state := bgp.BFDDown
	err := ps.srv.ListPeer(ctx, &api.ListPeerRequest{Address: addr.String()}, func(p *api.Peer) {
		if st := p.GetState().GetBfdState(); st != nil {
			switch st.SessionState {
			case api.BfdSessionState_BFD_SESSION_STATE_UP:
				state = bgp.BFDUp
			case api.BfdSessionState_BFD_SESSION_STATE_INIT:
				state = bgp.BFDInit
			case api.BfdSessionState_BFD_SESSION_STATE_ADMIN_DOWN:
				state = bgp.BFDAdminDown
			}
		}
	})
	if err != nil {
		return bgp.BFDDown
	}
	return state
}
