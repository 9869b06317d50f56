package gobgp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/testpoll"
)

func TestTCPMD5(t *testing.T) {
	t.Parallel()
	const (
		goodPassword  = "bgplb-md5-Good-1"
		otherPassword = "bgplb-md5-Other-2"
		wrongPassword = "bgplb-md5-Wrong-3"
	)
	r := newRouter(t, routerConf{asn: routerASN, neighbors: []neighborConf{
		{speaker: 1, asn: speakerASN, password: goodPassword},
		{speaker: 2, asn: speakerASN, password: otherPassword},
	}})
	e, logs := newEngine(t)
	good, bad := labPeer(r, "good", 1), labPeer(r, "bad", 2)
	good.Password = goodPassword
	bad.Password = wrongPassword
	reconcilePeers(t, e, good, bad)
	reconcilePaths(t, e, map[string][]bgp.Path{"good": nil, "bad": nil}) // sessions open with their first table
	// The wrong key never gets through. GoBGP first connects after up to
	// 2 s and gives up on a connection after 2 s, then tries again after
	// up to 2 s: 6.5 s cover two attempts.
	watchUntil := time.Now().Add(6500 * time.Millisecond)
	waitSession(t, e, "good", bgp.StateEstablished, establishTimeout)
	waitRouterEstablished(t, r, r.speakerV4)
	testpoll.Throughout(t, time.Until(watchUntil), "the session with the wrong password stays down at both ends", func() (bool, string) {
		sessions, err := e.Sessions(context.Background())
		if err != nil {
			return false, err.Error()
		}
		for _, s := range sessions {
			if s.Peer == "bad" && s.State == bgp.StateEstablished {
				return false, "the engine's session is Established"
			}
		}
		n, err := r.neighbor(r.speaker2V4)
		if err != nil {
			return false, err.Error()
		}
		return n.BGPState != "Established" && n.ConnectionsEstablished == 0, fmt.Sprintf("the router's session: %+v", n)
	})

	sessions, err := e.Sessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{goodPassword, wrongPassword} {
		for _, s := range sessions {
			if strings.Contains(fmt.Sprintf("%+v", s), pw) {
				t.Errorf("session %+v contains a password", s)
			}
		}
		if strings.Contains(logs.String(), pw) {
			t.Errorf("the engine's logs contain the password %q", pw)
		}
	}
	// Changing the password to the right one is a settings change that
	// resets the peer, after which it establishes.
	bad.Password = otherPassword
	reconcilePeers(t, e, good, bad)
	waitSession(t, e, "bad", bgp.StateEstablished, establishTimeout)
	if strings.Contains(logs.String(), otherPassword) {
		t.Error("the engine's logs contain the corrected password")
	}
}

func TestASessionTheRouterClosesIsReportedWithItsReason(t *testing.T) {
	t.Parallel()
	r := newRouter(t, routerConf{asn: routerASN, neighbors: []neighborConf{{speaker: 1, asn: speakerASN}}})
	e, _ := newEngine(t)
	reconcilePeers(t, e, labPeer(r, "a", 1))
	reconcilePaths(t, e, map[string][]bgp.Path{"a": nil}) // the session opens with its first table
	// Reading the changes up to Established leaves none queued from
	// before.
	nextChange(t, e, establishTimeout, func(s bgp.Session) bool { return s.State == bgp.StateEstablished })

	if _, err := r.vtysh(fmt.Sprintf("configure terminal\nrouter bgp %d\nneighbor %s shutdown", routerASN, r.speakerV4)); err != nil {
		t.Fatal(err)
	}
	s := nextChange(t, e, routeTimeout, func(s bgp.Session) bool { return s.State != bgp.StateEstablished })
	if want := "received NOTIFICATION: cease, administrative shutdown (code 6, subcode 2)"; !strings.HasPrefix(s.LastError, want) {
		t.Errorf("session went %s with last error %q, want %q", s.State, s.LastError, want)
	}
}

// A peer ASN that is not the router's AS is the commonest mistake. GoBGP
// answers the router's OPEN with a NOTIFICATION and the session stays in
// Active without a state change; the NOTIFICATION must still reach the
// session's last error, and stay there while the session stays down.
func TestAWrongPeerASNIsReportedAsBadPeerAS(t *testing.T) {
	t.Parallel()
	r := newRouter(t, routerConf{asn: routerASN, neighbors: []neighborConf{{speaker: 1, asn: speakerASN}}})
	e, logs := newEngine(t)
	p := labPeer(r, "a", 1)
	p.PeerASN = routerASN + 1
	reconcilePeers(t, e, p)
	reconcilePaths(t, e, map[string][]bgp.Path{"a": nil})

	const want = "sent NOTIFICATION: OPEN message error, bad peer AS (code 2, subcode 2)"
	lastError := func() (bool, string) {
		s := sessionOf(t, e, "a")
		return s.LastError == want && s.State != bgp.StateEstablished, fmt.Sprintf("%s with last error %q", s.State, s.LastError)
	}
	testpoll.Until(t, establishTimeout, "session a to report the bad peer AS", lastError)
	// The node status is written on session changes, so the error must be
	// delivered as one.
	nextChange(t, e, routeTimeout, func(s bgp.Session) bool { return s.LastError == want })

	// GoBGP tries again every few seconds; the error stays.
	testpoll.Until(t, establishTimeout, "GoBGP to send a second NOTIFICATION", func() (bool, string) {
		n := strings.Count(logs.String(), `msg="sent notification"`)
		return n >= 2, fmt.Sprintf("%d NOTIFICATIONs logged", n)
	})
	if ok, seen := lastError(); !ok {
		t.Errorf("after a second attempt session a is %s, want the bad peer AS still", seen)
	}
}

// A router that expects another AS from this node refuses its OPEN with a
// NOTIFICATION after sending its own OPEN, so GoBGP receives it in
// OpenConfirm, where it does not report it; the last error must still say
// that the router sent one, so that the user looks at the router.
func TestARouterThatRefusesTheSessionIsReportedAsANotification(t *testing.T) {
	t.Parallel()
	r := newRouter(t, routerConf{asn: routerASN, neighbors: []neighborConf{{speaker: 1, asn: speakerASN + 1}}})
	e, _ := newEngine(t)
	reconcilePeers(t, e, labPeer(r, "a", 1))
	reconcilePaths(t, e, map[string][]bgp.Path{"a": nil})

	testpoll.Until(t, establishTimeout, "session a to report the router's NOTIFICATION", func() (bool, string) {
		s := sessionOf(t, e, "a")
		return s.LastError == unloggedNotification && s.State != bgp.StateEstablished, fmt.Sprintf("%s with last error %q", s.State, s.LastError)
	})
}
