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
	}}); err != nil {
		t.Fatal(err)
	}
	if err := fake.SetSessionState("up", bgp.StateEstablished, ""); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	w := &sessionWatch{engine: fake, logger: slog.New(slog.NewTextHandler(&logs, nil))}
	w.setPasswordPeers(map[string]bool{"md5": true})

	w.check(ctx, time.Now().Add(stuckAfter/2))
	if logs.Len() != 0 {
		t.Fatalf("reported before %s: %s", stuckAfter, logs.String())
	}
	w.check(ctx, time.Now().Add(stuckAfter+time.Second))
	out := logs.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one line for each of the two down sessions, got:\n%s", out)
	}
	for _, line := range lines {
		switch {
		case strings.Contains(line, "peer=md5"):
			if !strings.Contains(line, "TCP-MD5") {
				t.Errorf("the MD5 peer's report does not name the password as likely cause: %s", line)
			}
		case strings.Contains(line, "peer=plain"):
			if strings.Contains(line, "TCP-MD5") {
				t.Errorf("the plain peer's report blames TCP-MD5: %s", line)
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
