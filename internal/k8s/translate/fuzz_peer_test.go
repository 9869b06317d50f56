package translate_test

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// fuzzPassword is the password of the fuzzed peers' Secret; a fault
// message must never show it.
const fuzzPassword = "pw-0f7c1d9e-never-shown"

// peerText is the text fields of a fuzzed BGPPeer.
type peerText struct {
	peerAddress, routerID, sourceAddress string
	secretNamespace, secretName, key     string
	bfdProfile                           string
	selectorKey, selectorOp, selector    string
}

// fuzzedPeer builds a BGPPeer from fuzzed values, keeping numbers within
// the ranges the API server enforces.
func fuzzedPeer(text peerText, asn uint32, holdSeconds, keepaliveSeconds uint16, multihop uint8, gracefulRestart uint8) *v1alpha1.BGPPeer {
	spec := v1alpha1.BGPPeerSpec{
		MyASN: int64(max(asn, 1)), PeerASN: int64(max(asn/2, 1)), PeerPort: 179,
		PeerAddress: text.peerAddress, RouterID: text.routerID, SourceAddress: text.sourceAddress, BFDProfile: text.bfdProfile,
		NodeSelectors: fuzzSelectors(text.selectorKey, "", text.selectorOp, text.selector),
	}
	hold := time.Duration(holdSeconds) * time.Second
	if hold > 0 && hold < 3*time.Second {
		hold = 3 * time.Second
	}
	spec.HoldTime = &metav1.Duration{Duration: hold}
	if hold > 0 {
		spec.KeepaliveTime = &metav1.Duration{Duration: time.Duration(keepaliveSeconds) * time.Second % hold}
	}
	if multihop > 0 {
		spec.EBGPMultiHop = new(int32)
		*spec.EBGPMultiHop = int32(multihop)
	}
	if gracefulRestart%3 > 0 {
		enabled := gracefulRestart%3 == 1
		spec.GracefulRestart = &v1alpha1.GracefulRestart{Enabled: &enabled}
	}
	if text.secretName != "" {
		spec.PasswordSecret = &v1alpha1.SecretKeyReference{Namespace: text.secretNamespace, Name: text.secretName, Key: text.key}
	}
	return &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "fuzzed"}, Spec: spec}
}

// fuzzRefs knows the Secret "md5" (the password under the default key,
// an empty value under "empty") and the BFD profile "fast".
func fuzzRefs() translate.PeerReferences {
	r := refs()
	r.Secrets = map[string]*corev1.Secret{"md5": secret("md5", map[string]string{translate.DefaultPasswordKey: fuzzPassword, "empty": ""})}
	return r
}

// The controller and the speakers judge a peer alike; every fault names
// its field, an address that cannot be read is quoted, and the password
// is never shown; a usable peer's session has what the peer says; and a
// peer reads the same after a trip through the API server's JSON.
func FuzzPeer(f *testing.F) {
	f.Fuzz(func(t *testing.T, peerAddress, routerID, sourceAddress, secretNamespace, secretName, key, bfdProfile, selectorKey, selectorOp, selector string,
		asn uint32, holdSeconds, keepaliveSeconds uint16, multihop, gracefulRestart uint8, nodeHasIPv4 bool) {
		text := peerText{peerAddress, routerID, sourceAddress, secretNamespace, secretName, key, bfdProfile, selectorKey, selectorOp, selector}
		p := fuzzedPeer(text, asn, holdSeconds, keepaliveSeconds, multihop, gracefulRestart)
		addrs := node
		if !nodeHasIPv4 {
			addrs.IPv4 = netip.Addr{}
		}
		problems := translate.CheckPeer(p, fuzzRefs())
		checkPeerProblems(t, p, problems, strings.Contains(fmt.Sprint(text), fuzzPassword))
		rules, session, err := translate.Peer(p, addrs, fuzzRefs())
		switch {
		case len(problems) > 0:
			if err == nil || err.Error() != problems.Error() {
				t.Fatalf("CheckPeer says %q, Peer %v", problems, err)
			}
		case routerID == "" && !nodeHasIPv4:
			if err == nil || !strings.HasPrefix(err.Error(), "no router ID") {
				t.Fatalf("no router ID to be had, Peer says %v", err)
			}
		case err != nil:
			t.Fatalf("CheckPeer finds nothing, Peer says %v", err)
		default:
			checkSession(t, p, session)
		}
		if allUTF8(peerAddress, routerID, sourceAddress, secretNamespace, secretName, key, bfdProfile, selectorKey, selectorOp, selector) {
			rules2, session2, err2 := translate.Peer(viaJSON(t, p), addrs, fuzzRefs())
			sameTranslation(t, "rules", rules, rules2, err, err2)
			sameTranslation(t, "session", session, session2, err, err2)
		}
	})
}

// checkPeerProblems fails the test unless every problem names its field,
// an unreadable peer address is quoted, and no problem shows the password
// (unless the peer's own fields hold its text, and may be quoted).
func checkPeerProblems(t *testing.T, p *v1alpha1.BGPPeer, problems translate.PeerProblems, fieldsHoldPassword bool) {
	t.Helper()
	for _, problem := range problems {
		if !strings.HasPrefix(problem, "spec.") {
			t.Fatalf("problem %q names no field", problem)
		}
	}
	if _, err := netip.ParseAddr(p.Spec.PeerAddress); err != nil {
		want := "spec.peerAddress: invalid address " + strconv.Quote(p.Spec.PeerAddress)
		if !strings.Contains(problems.Error(), want) {
			t.Fatalf("problems %q do not say %q", problems, want)
		}
	}
	if shown := problems.Error(); strings.Contains(shown, fuzzPassword) && !fieldsHoldPassword {
		t.Fatalf("problems show the password: %q", shown)
	}
	// Without the Secrets, only their namespace is judged: never more.
	unknown := fuzzRefs()
	unknown.Secrets = nil
	if fewer := translate.CheckPeer(p, unknown); len(fewer) > len(problems) {
		t.Fatalf("without the Secrets %q, with them %q", fewer, problems)
	}
}

// checkSession fails the test unless a usable peer's session has what the
// peer asks for.
func checkSession(t *testing.T, p *v1alpha1.BGPPeer, s bgp.Peer) {
	t.Helper()
	if s.Address.String() != mustAddr(t, p.Spec.PeerAddress).String() || !s.RouterID.Is4() {
		t.Fatalf("peer address %q, router ID %q: session address %v, router ID %v", p.Spec.PeerAddress, p.Spec.RouterID, s.Address, s.RouterID)
	}
	if s.HoldTime > 0 && (s.KeepaliveTime <= 0 || s.KeepaliveTime > s.HoldTime) {
		t.Fatalf("hold time %v, keepalive %v", s.HoldTime, s.KeepaliveTime)
	}
	if (s.BFD != nil) != (p.Spec.BFDProfile != "") {
		t.Fatalf("BFD profile %q, BFD %+v", p.Spec.BFDProfile, s.BFD)
	}
	if (s.Password != "") != (p.Spec.PasswordSecret != nil) || (s.Password != "" && s.Password != fuzzPassword) {
		t.Fatalf("password secret %+v gives password %q", p.Spec.PasswordSecret, s.Password)
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatalf("a usable peer's address %q does not parse: %v", s, err)
	}
	return a
}
