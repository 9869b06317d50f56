package translate_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

const speakerNamespace = "bgplb-system"

var node = translate.NodeAddresses{IPv4: netip.MustParseAddr("198.18.0.10"), IPv6: netip.MustParseAddr("2001:db8:1::10")}

func peer(change func(*v1alpha1.BGPPeerSpec)) *v1alpha1.BGPPeer {
	p := &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router"},
		Spec: v1alpha1.BGPPeerSpec{MyASN: 64512, PeerASN: 64513, PeerAddress: "198.18.0.1", PeerPort: 179}}
	if change != nil {
		change(&p.Spec)
	}
	return p
}

func secret(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: speakerNamespace, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// refs knows the Secret "md5" with the password "s3cret" under the
// default key and "alt" under the key "other", and the BFD profile "fast".
func refs() translate.PeerReferences {
	return translate.PeerReferences{
		SpeakerNamespace: speakerNamespace,
		Secrets:          map[string]*corev1.Secret{"md5": secret("md5", map[string]string{"password": "s3cret", "other": "alt", "empty": ""})},
		BFDProfiles: map[string]*v1alpha1.BFDProfile{"fast": {ObjectMeta: metav1.ObjectMeta{Name: "fast"},
			Spec: v1alpha1.BFDProfileSpec{ReceiveInterval: ptr.To[int32](100), TransmitInterval: ptr.To[int32](150), DetectMultiplier: ptr.To[int32](5)}}},
	}
}

func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

// A peer's unset fields take the defaults, and set ones are used as given.
func TestPeerFieldsAndTheirDefaults(t *testing.T) {
	tests := []struct {
		name   string
		change func(*v1alpha1.BGPPeerSpec)
		check  func(t *testing.T, s bgp.Peer, drain time.Duration)
	}{
		{"unset times take the defaults, the keepalive a third of the hold time", nil, func(t *testing.T, s bgp.Peer, drain time.Duration) {
			want := [4]time.Duration{translate.DefaultHoldTime, translate.DefaultHoldTime / 3, translate.DefaultConnectTime, translate.DefaultDrainTime}
			if got := [4]time.Duration{s.HoldTime, s.KeepaliveTime, s.ConnectRetry, drain}; got != want {
				t.Errorf("hold, keepalive, connect, drain = %v, want %v", got, want)
			}
		}},
		{"set times are used", func(s *v1alpha1.BGPPeerSpec) {
			s.HoldTime, s.KeepaliveTime, s.ConnectTime, s.DrainTime = duration(9*time.Second), duration(2*time.Second), duration(5*time.Second), duration(time.Minute)
		}, func(t *testing.T, s bgp.Peer, drain time.Duration) {
			want := [4]time.Duration{9 * time.Second, 2 * time.Second, 5 * time.Second, time.Minute}
			if got := [4]time.Duration{s.HoldTime, s.KeepaliveTime, s.ConnectRetry, drain}; got != want {
				t.Errorf("hold, keepalive, connect, drain = %v, want %v", got, want)
			}
		}},
		{"a keepalive time of zero is a third of the hold time", func(s *v1alpha1.BGPPeerSpec) {
			s.HoldTime, s.KeepaliveTime = duration(30*time.Second), duration(0)
		}, func(t *testing.T, s bgp.Peer, _ time.Duration) {
			if s.KeepaliveTime != 10*time.Second {
				t.Errorf("keepalive = %v, want 10s", s.KeepaliveTime)
			}
		}},
		{"graceful restart is on by default with the default restart time", nil, func(t *testing.T, s bgp.Peer, _ time.Duration) {
			if want := (bgp.GracefulRestart{Enabled: true, RestartTime: translate.DefaultRestartTime}); s.GracefulRestart != want {
				t.Errorf("graceful restart = %+v, want %+v", s.GracefulRestart, want)
			}
		}},
		{"graceful restart takes the restart time given", func(s *v1alpha1.BGPPeerSpec) {
			s.GracefulRestart = &v1alpha1.GracefulRestart{RestartTime: duration(30 * time.Second)}
		}, func(t *testing.T, s bgp.Peer, _ time.Duration) {
			if want := (bgp.GracefulRestart{Enabled: true, RestartTime: 30 * time.Second}); s.GracefulRestart != want {
				t.Errorf("graceful restart = %+v, want %+v", s.GracefulRestart, want)
			}
		}},
		{"graceful restart can be turned off", func(s *v1alpha1.BGPPeerSpec) {
			s.GracefulRestart = &v1alpha1.GracefulRestart{Enabled: ptr.To(false), RestartTime: duration(30 * time.Second)}
		}, func(t *testing.T, s bgp.Peer, _ time.Duration) {
			if s.GracefulRestart.Enabled {
				t.Errorf("graceful restart = %+v, want off", s.GracefulRestart)
			}
		}},
		{"addresses, port, ASNs and multihop are taken over", func(s *v1alpha1.BGPPeerSpec) {
			s.PeerAddress, s.SourceAddress, s.PeerPort, s.EBGPMultiHop = "2001:db8:1::1", "2001:db8:1::10", 1179, ptr.To[int32](4)
		}, func(t *testing.T, s bgp.Peer, _ time.Duration) {
			if s.Address != netip.MustParseAddr("2001:db8:1::1") || s.SourceAddress != netip.MustParseAddr("2001:db8:1::10") ||
				s.Port != 1179 || s.LocalASN != 64512 || s.PeerASN != 64513 || s.EBGPMultihopTTL != 4 {
				t.Errorf("session = %+v", s)
			}
		}},
		{"the node's addresses are the next hops and its IPv4 address the router ID", nil, func(t *testing.T, s bgp.Peer, _ time.Duration) {
			if s.NextHopIPv4 != node.IPv4 || s.NextHopIPv6 != node.IPv6 || s.RouterID != node.IPv4 {
				t.Errorf("next hops %v %v, router ID %v; want %v %v, %v", s.NextHopIPv4, s.NextHopIPv6, s.RouterID, node.IPv4, node.IPv6, node.IPv4)
			}
		}},
		{"spec.routerID wins over the node's address", func(s *v1alpha1.BGPPeerSpec) { s.RouterID = "10.0.0.1" }, func(t *testing.T, s bgp.Peer, _ time.Duration) {
			if s.RouterID != netip.MustParseAddr("10.0.0.1") {
				t.Errorf("router ID %v, want 10.0.0.1", s.RouterID)
			}
		}},
		{"no BFD profile means no BFD", nil, func(t *testing.T, s bgp.Peer, _ time.Duration) {
			if s.BFD != nil {
				t.Errorf("BFD = %+v, want none", s.BFD)
			}
		}},
		{"a BFD profile's settings are used", func(s *v1alpha1.BGPPeerSpec) { s.BFDProfile = "fast" }, func(t *testing.T, s bgp.Peer, _ time.Duration) {
			if want := (bgp.BFD{ReceiveInterval: 100 * time.Millisecond, TransmitInterval: 150 * time.Millisecond, DetectMultiplier: 5}); s.BFD == nil || *s.BFD != want {
				t.Errorf("BFD = %+v, want %+v", s.BFD, want)
			}
		}},
		{"the password is read from the default key", func(s *v1alpha1.BGPPeerSpec) {
			s.PasswordSecret = &v1alpha1.SecretKeyReference{Namespace: speakerNamespace, Name: "md5"}
		}, func(t *testing.T, s bgp.Peer, _ time.Duration) {
			if s.Password != "s3cret" {
				t.Errorf("password %q, want the one of key %q", s.Password, translate.DefaultPasswordKey)
			}
		}},
		{"the password is read from the key named", func(s *v1alpha1.BGPPeerSpec) {
			s.PasswordSecret = &v1alpha1.SecretKeyReference{Namespace: speakerNamespace, Name: "md5", Key: "other"}
		}, func(t *testing.T, s bgp.Peer, _ time.Duration) {
			if s.Password != "alt" {
				t.Errorf("password %q, want the one of key other", s.Password)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, session, err := translate.Peer(peer(tt.change), node, refs())
			if err != nil {
				t.Fatalf("Peer: %v", err)
			}
			if rules.Name != "router" || session.Name != "router" || rules.LocalASN != 64512 || rules.PeerASN != 64513 {
				t.Errorf("rules %+v, session name %q", rules, session.Name)
			}
			tt.check(t, session, rules.DrainTime)
		})
	}
}

// A peer the speakers cannot use is refused with every fault, each
// naming its field and quoting the value; the controller (CheckPeer) and
// the speakers (Peer) say the same.
func TestPeerFaultsNameTheFieldAndQuoteTheValue(t *testing.T) {
	tests := []struct {
		name   string
		change func(*v1alpha1.BGPPeerSpec)
		refs   func(*translate.PeerReferences)
		want   []string
	}{
		{"an invalid peer address", func(s *v1alpha1.BGPPeerSpec) { s.PeerAddress = "198.18.0" }, nil,
			[]string{`spec.peerAddress: invalid address "198.18.0"`}},
		{"an invalid router ID", func(s *v1alpha1.BGPPeerSpec) { s.RouterID = "router-1" }, nil,
			[]string{`spec.routerID: invalid address "router-1"`}},
		{"an IPv6 router ID", func(s *v1alpha1.BGPPeerSpec) { s.RouterID = "2001:db8::1" }, nil,
			[]string{`spec.routerID: "2001:db8::1" is not an IPv4 address`}},
		{"an invalid source address", func(s *v1alpha1.BGPPeerSpec) { s.SourceAddress = "eth0" }, nil,
			[]string{`spec.sourceAddress: invalid address "eth0"`}},
		{"an invalid node selector", func(s *v1alpha1.BGPPeerSpec) {
			s.NodeSelectors = []metav1.LabelSelector{{}, {MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "rack", Operator: "Sometimes"}}}}
		}, nil, []string{`spec.nodeSelectors[1]: `, `"Sometimes"`}},
		{"an unknown BFD profile", func(s *v1alpha1.BGPPeerSpec) { s.BFDProfile = "slow" }, nil,
			[]string{`spec.bfdProfile: BFDProfile "slow" not found`}},
		{"a password Secret in another namespace", func(s *v1alpha1.BGPPeerSpec) {
			s.PasswordSecret = &v1alpha1.SecretKeyReference{Namespace: "default", Name: "md5"}
		}, nil, []string{`spec.passwordSecret.namespace: the speakers read Secrets only in namespace "bgplb-system", not "default"`}},
		{"a missing password Secret", func(s *v1alpha1.BGPPeerSpec) {
			s.PasswordSecret = &v1alpha1.SecretKeyReference{Namespace: speakerNamespace, Name: "absent"}
		}, nil, []string{`spec.passwordSecret: Secret "bgplb-system/absent" not found`}},
		{"a password Secret without the key", func(s *v1alpha1.BGPPeerSpec) {
			s.PasswordSecret = &v1alpha1.SecretKeyReference{Namespace: speakerNamespace, Name: "md5", Key: "pw"}
		}, nil, []string{`spec.passwordSecret.key: Secret "bgplb-system/md5" has no value for key "pw"`}},
		{"a password Secret with an empty value", func(s *v1alpha1.BGPPeerSpec) {
			s.PasswordSecret = &v1alpha1.SecretKeyReference{Namespace: speakerNamespace, Name: "md5", Key: "empty"}
		}, nil, []string{`spec.passwordSecret.key: Secret "bgplb-system/md5" has no value for key "empty"`}},
		{"with the Secrets unknown, only their namespace is checked", func(s *v1alpha1.BGPPeerSpec) {
			s.PasswordSecret = &v1alpha1.SecretKeyReference{Namespace: speakerNamespace, Name: "absent"}
		}, func(r *translate.PeerReferences) { r.Secrets = nil }, nil},
		{"every fault at once, in the order of the fields", func(s *v1alpha1.BGPPeerSpec) {
			s.PeerAddress, s.SourceAddress, s.BFDProfile = "x", "y", "z"
		}, nil, []string{`spec.peerAddress: invalid address "x"; spec.sourceAddress: invalid address "y"; spec.bfdProfile: BFDProfile "z" not found`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := refs()
			if tt.refs != nil {
				tt.refs(&r)
			}
			p := peer(tt.change)
			checked := translate.CheckPeer(p, r).Error()
			_, _, err := translate.Peer(p, node, r)
			if tt.want == nil {
				if checked != "" || err != nil {
					t.Fatalf("CheckPeer %q, Peer error %v; want none", checked, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Peer accepted the peer; CheckPeer says %q", checked)
			}
			if err.Error() != checked {
				t.Errorf("Peer says %q, CheckPeer %q: they must agree", err, checked)
			}
			for _, w := range tt.want {
				if !strings.Contains(checked, w) {
					t.Errorf("problems %q do not contain %q", checked, w)
				}
			}
		})
	}
}

// A node without an IPv4 address has no router ID to offer: only a peer
// naming one can have a session there, and the controller, judging for
// every node, does not refuse the peer for it.
func TestARouterIDComesFromThePeerOrTheNodesIPv4Address(t *testing.T) {
	v6Only := translate.NodeAddresses{IPv6: netip.MustParseAddr("2001:db8:1::10")}
	if _, _, err := translate.Peer(peer(nil), v6Only, refs()); err == nil || !strings.Contains(err.Error(), "no router ID") {
		t.Errorf("Peer on an IPv6-only node without spec.routerID: error %v, want no router ID", err)
	}
	if problems := translate.CheckPeer(peer(nil), refs()); len(problems) > 0 {
		t.Errorf("CheckPeer refuses a peer without spec.routerID: %q", problems)
	}
	_, session, err := translate.Peer(peer(func(s *v1alpha1.BGPPeerSpec) { s.RouterID = "10.0.0.1" }), v6Only, refs())
	if err != nil || session.RouterID != netip.MustParseAddr("10.0.0.1") || session.NextHopIPv4.IsValid() {
		t.Errorf("Peer with spec.routerID on an IPv6-only node: router ID %v, IPv4 next hop %v, error %v", session.RouterID, session.NextHopIPv4, err)
	}
}

// No fault message shows a password, whether its key is missing or
// another field is at fault.
func TestPasswordFaultsDoNotShowThePassword(t *testing.T) {
	for _, key := range []string{"pw", "password"} {
		p := peer(func(s *v1alpha1.BGPPeerSpec) {
			s.PasswordSecret = &v1alpha1.SecretKeyReference{Namespace: speakerNamespace, Name: "md5", Key: key}
			s.PeerAddress = "x"
		})
		msg := translate.CheckPeer(p, refs()).Error()
		if msg == "" || strings.Contains(msg, "s3cret") {
			t.Errorf("key %q: problems %q, want some, none showing the password", key, msg)
		}
	}
}
