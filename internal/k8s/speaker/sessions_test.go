package speaker

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/bgp"
)

func TestASessionThatStaysDownIsReportedOnceWithItsLikelyCause(t *testing.T) {
	ctx := context.Background()
	fake := bgp.NewFake()
	peer := func(name, addr, password string) bgp.Peer {
		return bgp.Peer{Name: name, Address: netip.MustParseAddr(addr), LocalASN: 64512, PeerASN: 64500,
			RouterID: netip.MustParseAddr("198.18.0.10"), NextHopIPv4: netip.MustParseAddr("198.18.0.10"), Password: password}
	}
	if err := fake.ReconcilePeers(ctx, bgp.ReconcilePeersRequest{Peers: []bgp.Peer{
		peer("md5", "198.18.0.1", "s3cret"), peer("plain", "198.18.0.2", ""), peer("up", "198.18.0.3", ""),
		peer("refused", "198.18.0.4", ""),
	}}); err != nil {
		t.Fatal(err)
	}
	if err := fake.SetSessionState("refused", bgp.StateActive, "sent NOTIFICATION: OPEN message error, bad peer AS (code 2, subcode 2)"); err != nil {
		t.Fatal(err)
	}
	if err := fake.SetSessionState("up", bgp.StateEstablished, ""); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	w := &sessionWatch{engine: fake, logger: slog.New(slog.NewTextHandler(&logs, nil))}
	w.setPeers(map[string]peerFacts{"md5": {password: true}})

	w.check(ctx, time.Now().Add(stuckAfter/2))
	if logs.Len() != 0 {
		t.Fatalf("reported before %s: %s", stuckAfter, logs.String())
	}
	w.check(ctx, time.Now().Add(stuckAfter+time.Second))
	out := logs.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want one line for each of the three down sessions, got:\n%s", out)
	}
	for _, line := range lines {
		switch {
		case strings.Contains(line, "peer=md5"):
			if !strings.Contains(line, "TCP-MD5") {
				t.Errorf("the MD5 peer's report does not name the password as likely cause: %s", line)
			}
		case strings.Contains(line, "peer=plain"):
			if strings.Contains(line, "TCP-MD5") || !strings.Contains(line, "does not answer") {
				t.Errorf("the plain peer's report does not say the router does not answer: %s", line)
			}
		case strings.Contains(line, "peer=refused"):
			if !strings.Contains(line, "bad peer AS") || strings.Contains(line, "does not answer") {
				t.Errorf("the refused peer's report does not give the NOTIFICATION as the cause: %s", line)
			}
		default:
			t.Errorf("unexpected report: %s", line)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Error("the report contains the password")
	}
	logs.Reset()
	w.check(ctx, time.Now().Add(2*stuckAfter))
	if logs.Len() != 0 {
		t.Errorf("the same outage was reported again: %s", logs.String())
	}
}

func TestAPeerWhoseRouterDoesNotOfferGracefulRestartIsReportedOncePerSession(t *testing.T) {
	ctx := context.Background()
	fake := bgp.NewFake()
	peer := func(name, addr string) bgp.Peer {
		return bgp.Peer{Name: name, Address: netip.MustParseAddr(addr), LocalASN: 64512, PeerASN: 64500,
			RouterID: netip.MustParseAddr("198.18.0.10"), NextHopIPv4: netip.MustParseAddr("198.18.0.10")}
	}
	if err := fake.ReconcilePeers(ctx, bgp.ReconcilePeersRequest{Peers: []bgp.Peer{peer("wants-gr", "198.18.0.1"), peer("no-gr", "198.18.0.2")}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"wants-gr", "no-gr"} {
		if err := fake.SetSessionState(name, bgp.StateEstablished, ""); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	var warned []string
	w := &sessionWatch{engine: fake, logger: slog.New(slog.NewTextHandler(&logs, nil)), node: "node-1",
		warn: func(_ context.Context, peer, reason, message string) {
			warned = append(warned, peer+" "+reason+" "+message)
		}}
	w.setPeers(map[string]peerFacts{"wants-gr": {gracefulRestart: true}, "no-gr": {}})

	w.check(ctx, time.Now())
	w.check(ctx, time.Now())
	if len(warned) != 1 || !strings.HasPrefix(warned[0], "wants-gr "+EventGracefulRestartNotNegotiated) || !strings.Contains(warned[0], "node-1") {
		t.Fatalf("warnings = %q, want one GracefulRestartNotNegotiated for wants-gr naming the node", warned)
	}
	if n := strings.Count(logs.String(), "graceful restart not negotiated"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs.String())
	}
}
