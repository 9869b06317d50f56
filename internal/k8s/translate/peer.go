package translate

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
)

// Defaults of a BGPPeer's fields. The API server fills in most of them
// when a peer is stored; these apply to peers stored before a default
// existed, and to the fields the API leaves unset on purpose.
const (
	DefaultDrainTime         = 30 * time.Second
	DefaultHoldTime          = 90 * time.Second
	DefaultConnectTime       = 10 * time.Second
	DefaultGracefulRestart   = true
	DefaultRestartTime       = 120 * time.Second
	DefaultPasswordKey       = "password"
	keepaliveShareOfHoldTime = 3 // the keepalive time is a third of the hold time
)

// NodeAddresses are the addresses of the node a speaker runs on that a
// peer's session uses: next hop of each family, and the IPv4 address as
// default router ID. A zero address means the node has none of that
// family.
type NodeAddresses struct {
	IPv4, IPv6 netip.Addr
}

// PeerReferences are the objects a BGPPeer refers to by name.
type PeerReferences struct {
	// SpeakerNamespace is the namespace the speakers run in, the only one
	// they read password Secrets in.
	SpeakerNamespace string
	// Secrets are the Secrets of SpeakerNamespace by name. Nil means they
	// are not known: only a password Secret's namespace is checked.
	Secrets map[string]*corev1.Secret
	// BFDProfiles are the BFD profiles by name.
	BFDProfiles map[string]*v1alpha1.BFDProfile
}

// PeerProblems is a peer's faults, one message each.
type PeerProblems []string

// Error joins the problems with "; ", the way configuration conditions
// list them.
func (p PeerProblems) Error() string { return strings.Join(p, "; ") }

// CheckPeer lists what makes the speakers refuse a peer on every node,
// each problem naming its field and quoting the value. Nothing read from
// a Secret goes into a problem.
func CheckPeer(p *v1alpha1.BGPPeer, refs PeerReferences) PeerProblems {
	_, _, problems := readPeer(p, refs)
	return problems
}

// Peer returns the rule side and the session side of a peer, as the
// speaker on a node with the given addresses uses it. The error is a
// PeerProblems: those of CheckPeer, or else that the node has no router
// ID to offer.
func Peer(p *v1alpha1.BGPPeer, node NodeAddresses, refs PeerReferences) (announce.Peer, bgp.Peer, error) {
	rules, session, problems := readPeer(p, refs)
	if len(problems) > 0 {
		return announce.Peer{}, bgp.Peer{}, problems
	}
	session.NextHopIPv4, session.NextHopIPv6 = node.IPv4, node.IPv6
	if !session.RouterID.IsValid() {
		session.RouterID = node.IPv4
	}
	if !session.RouterID.Is4() {
		return announce.Peer{}, bgp.Peer{}, PeerProblems{"no router ID: the node has no IPv4 address and spec.routerID is empty"}
	}
	return rules, session, nil
}

// readPeer reads every field of a peer that does not depend on the node,
// and lists the problems of those it cannot use.
func readPeer(p *v1alpha1.BGPPeer, refs PeerReferences) (announce.Peer, bgp.Peer, PeerProblems) {
	var problems PeerProblems
	rules := announce.Peer{
		Name:      p.Name,
		LocalASN:  uint32(p.Spec.MyASN),
		PeerASN:   uint32(p.Spec.PeerASN),
		DrainTime: durationOr(p.Spec.DrainTime, DefaultDrainTime),
	}
	session := bgp.Peer{
		Name:            p.Name,
		Port:            uint16(p.Spec.PeerPort),
		LocalASN:        rules.LocalASN,
		PeerASN:         rules.PeerASN,
		HoldTime:        durationOr(p.Spec.HoldTime, DefaultHoldTime),
		KeepaliveTime:   durationOr(p.Spec.KeepaliveTime, 0),
		ConnectRetry:    durationOr(p.Spec.ConnectTime, DefaultConnectTime),
		GracefulRestart: gracefulRestart(p.Spec.GracefulRestart),
	}
	if session.KeepaliveTime == 0 {
		session.KeepaliveTime = session.HoldTime / keepaliveShareOfHoldTime
	}
	if hops := p.Spec.EBGPMultiHop; hops != nil {
		session.EBGPMultihopTTL = uint8(*hops)
	}
	var err error
	rules.NodeSelectors, err = kubeutil.Matchers[announce.LabelMatcher]("spec.nodeSelectors", p.Spec.NodeSelectors)
	problems.add(err)
	session.Address, err = parseAddr("spec.peerAddress", p.Spec.PeerAddress)
	problems.add(err)
	session.RouterID, err = routerID(p.Spec.RouterID)
	problems.add(err)
	session.SourceAddress, err = optionalAddr("spec.sourceAddress", p.Spec.SourceAddress)
	problems.add(err)
	session.BFD, err = bfdOf(p.Spec.BFDProfile, refs.BFDProfiles)
	problems.add(err)
	session.Password, err = Password(p.Spec.PasswordSecret, refs)
	problems.add(err)
	return rules, session, problems
}

// add lists err, if any.
func (p *PeerProblems) add(err error) {
	if err != nil {
		*p = append(*p, err.Error())
	}
}

// gracefulRestart is on unless the peer turns it off.
func gracefulRestart(gr *v1alpha1.GracefulRestart) bgp.GracefulRestart {
	if gr == nil {
		gr = &v1alpha1.GracefulRestart{}
	}
	if !boolOr(gr.Enabled, DefaultGracefulRestart) {
		return bgp.GracefulRestart{}
	}
	return bgp.GracefulRestart{Enabled: true, RestartTime: durationOr(gr.RestartTime, DefaultRestartTime)}
}

// routerID reads spec.routerID, which must be an IPv4 address; empty
// gives the zero address, and the node's IPv4 address is used.
func routerID(value string) (netip.Addr, error) {
	id, err := optionalAddr("spec.routerID", value)
	if err == nil && id.IsValid() && !id.Is4() {
		return netip.Addr{}, fmt.Errorf("spec.routerID: %q is not an IPv4 address", value)
	}
	return id, err
}

// parseAddr reads an address field that must be set.
func parseAddr(field, value string) (netip.Addr, error) {
	addr, err := netip.ParseAddr(value)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s: invalid address %q", field, value)
	}
	return addr, nil
}

// optionalAddr reads an address field that may be empty.
func optionalAddr(field, value string) (netip.Addr, error) {
	if value == "" {
		return netip.Addr{}, nil
	}
	return parseAddr(field, value)
}

// Password reads the TCP-MD5 password that a peer's passwordSecret names;
// no reference means no password. The speakers read Secrets only in their
// own namespace, so a reference elsewhere is refused; with refs.Secrets
// nil only that is checked, and the password is empty.
func Password(ref *v1alpha1.SecretKeyReference, refs PeerReferences) (string, error) {
	if ref == nil {
		return "", nil
	}
	if ref.Namespace != refs.SpeakerNamespace {
		return "", fmt.Errorf("spec.passwordSecret.namespace: the speakers read Secrets only in namespace %q, not %q", refs.SpeakerNamespace, ref.Namespace)
	}
	if refs.Secrets == nil {
		return "", nil
	}
	secret := NamespacedKey(ref.Namespace, ref.Name)
	s, ok := refs.Secrets[ref.Name]
	if !ok {
		return "", fmt.Errorf("spec.passwordSecret: Secret %q not found", secret)
	}
	key := ref.Key
	if key == "" {
		key = DefaultPasswordKey
	}
	// An empty value is no password.
	value := s.Data[key]
	if len(value) == 0 {
		return "", fmt.Errorf("spec.passwordSecret.key: Secret %q has no value for key %q", secret, key)
	}
	return string(value), nil
}
