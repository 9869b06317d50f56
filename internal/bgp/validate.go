package bgp

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// DefaultHoldTime is the hold time of a Peer that leaves it at zero: the
// RFC 4271 suggestion.
const DefaultHoldTime = 90 * time.Second

const (
	// maxPasswordLen is the longest TCP-MD5 key Linux accepts
	// (TCP_MD5SIG_MAXKEYLEN).
	maxPasswordLen = 80
	// maxRestartTime is the largest restart time the 12-bit field of the
	// graceful restart capability holds.
	maxRestartTime = 4095 * time.Second
)

// Validate reports what makes p unusable as a session: a setting BGP, the
// kernel or a BGP library would refuse or silently change. Every Engine
// refuses a request with such a peer. The error names the peer and every
// fault, and never includes the password.
func (p Peer) Validate() error {
	if p.Name == "" {
		return errors.New("a peer has no name")
	}
	errs := slices.Concat(p.validateAddresses(), p.validateTimers(), p.validateBFD())
	if len(p.Password) > maxPasswordLen {
		errs = append(errs, fmt.Errorf("the TCP-MD5 password is longer than %d bytes", maxPasswordLen))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("peer %q: %w", p.Name, err)
	}
	return nil
}

// PeersByName returns the request's peers by name, or the first fault of
// the request: an invalid peer (see Peer.Validate) or a name listed twice.
// Every Engine refuses a request with such a fault as a whole.
func (r ReconcilePeersRequest) PeersByName() (map[string]Peer, error) {
	byName := make(map[string]Peer, len(r.Peers))
	for _, p := range r.Peers {
		if err := p.Validate(); err != nil {
			return nil, err
		}
		if _, dup := byName[p.Name]; dup {
			return nil, fmt.Errorf("peer %q is listed more than once", p.Name)
		}
		byName[p.Name] = p
	}
	return byName, nil
}

// validateAddresses checks the peer's own addresses and ASNs, and that the
// next hops make at least one address family.
func (p Peer) validateAddresses() []error {
	var errs []error
	if !p.Address.IsValid() || p.Address.IsUnspecified() {
		errs = append(errs, fmt.Errorf("address %v is not a usable address", p.Address))
	}
	if p.LocalASN == 0 || p.PeerASN == 0 {
		errs = append(errs, fmt.Errorf("local ASN %d and peer ASN %d must not be 0", p.LocalASN, p.PeerASN))
	}
	if !p.RouterID.Is4() || p.RouterID.IsUnspecified() {
		errs = append(errs, fmt.Errorf("router ID %v is not a usable IPv4 address", p.RouterID))
	}
	if p.SourceAddress.IsValid() && p.Address.IsValid() && p.SourceAddress.Unmap().Is4() != p.Address.Unmap().Is4() {
		errs = append(errs, fmt.Errorf("source address %v and peer address %v are of different families", p.SourceAddress, p.Address))
	}
	if p.NextHopIPv4.IsValid() && !p.NextHopIPv4.Unmap().Is4() {
		errs = append(errs, fmt.Errorf("IPv4 next hop %v is not an IPv4 address", p.NextHopIPv4))
	}
	if p.NextHopIPv6.IsValid() && (!p.NextHopIPv6.Is6() || p.NextHopIPv6.Is4In6()) {
		errs = append(errs, fmt.Errorf("IPv6 next hop %v is not an IPv6 address", p.NextHopIPv6))
	}
	if !p.NextHopIPv4.IsValid() && !p.NextHopIPv6.IsValid() {
		errs = append(errs, errors.New("neither an IPv4 nor an IPv6 next hop is set, so no address family would be negotiated"))
	}
	return errs
}

// validateTimers checks the BGP timers against what the protocol's fields
// hold and RFC 4271 allows.
func (p Peer) validateTimers() []error {
	var errs []error
	if p.HoldTime != 0 && p.HoldTime < 3*time.Second {
		errs = append(errs, fmt.Errorf("hold time %v is neither 0 (the default) nor at least 3s", p.HoldTime))
	}
	if p.HoldTime > math.MaxUint16*time.Second {
		errs = append(errs, fmt.Errorf("hold time %v is longer than BGP allows", p.HoldTime))
	}
	hold := cmp.Or(p.HoldTime, DefaultHoldTime)
	if p.KeepaliveTime < 0 || p.KeepaliveTime > hold {
		errs = append(errs, fmt.Errorf("keepalive time %v is not between 0 (a third of the hold time) and the hold time %v", p.KeepaliveTime, hold))
	}
	if p.ConnectRetry < 0 {
		errs = append(errs, fmt.Errorf("connect retry %v is negative", p.ConnectRetry))
	}
	if p.GracefulRestart.RestartTime < 0 || p.GracefulRestart.RestartTime > maxRestartTime {
		errs = append(errs, fmt.Errorf("graceful restart time %v is not between 0 and %v", p.GracefulRestart.RestartTime, maxRestartTime))
	}
	return errs
}

// validateBFD checks the BFD timers, if the peer asks for BFD.
func (p Peer) validateBFD() []error {
	b := p.BFD
	if b == nil {
		return nil
	}
	var errs []error
	if b.ReceiveInterval < time.Millisecond || b.ReceiveInterval > time.Minute ||
		b.TransmitInterval < time.Millisecond || b.TransmitInterval > time.Minute {
		errs = append(errs, fmt.Errorf("BFD intervals %v (receive) and %v (transmit) are not between 1ms and 1m", b.ReceiveInterval, b.TransmitInterval))
	}
	if b.DetectMultiplier < 2 {
		errs = append(errs, fmt.Errorf("BFD detect multiplier %d is below 2", b.DetectMultiplier))
	}
	return errs
}
