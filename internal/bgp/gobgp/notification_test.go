package gobgp

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestNotificationText(t *testing.T) {
	tests := []struct {
		code, subcode uint8
		want          string
	}{
		// RFC 4271 §6.1: message header error.
		{1, 0, "message header error (code 1, subcode 0)"},
		{1, 1, "message header error, connection not synchronized (code 1, subcode 1)"},
		{1, 2, "message header error, bad message length (code 1, subcode 2)"},
		{1, 3, "message header error, bad message type (code 1, subcode 3)"},
		// RFC 4271 §6.2, RFC 5492 and RFC 9234: OPEN message error.
		{2, 0, "OPEN message error (code 2, subcode 0)"},
		{2, 1, "OPEN message error, unsupported version number (code 2, subcode 1)"},
		{2, 2, "OPEN message error, bad peer AS (code 2, subcode 2)"},
		{2, 3, "OPEN message error, bad BGP identifier (code 2, subcode 3)"},
		{2, 4, "OPEN message error, unsupported optional parameter (code 2, subcode 4)"},
		{2, 5, "OPEN message error, authentication failure (deprecated) (code 2, subcode 5)"},
		{2, 6, "OPEN message error, unacceptable hold time (code 2, subcode 6)"},
		{2, 7, "OPEN message error, unsupported capability (code 2, subcode 7)"},
		{2, 11, "OPEN message error, role mismatch (code 2, subcode 11)"},
		// RFC 4271 §6.3: UPDATE message error.
		{3, 0, "UPDATE message error (code 3, subcode 0)"},
		{3, 1, "UPDATE message error, malformed attribute list (code 3, subcode 1)"},
		{3, 2, "UPDATE message error, unrecognized well-known attribute (code 3, subcode 2)"},
		{3, 3, "UPDATE message error, missing well-known attribute (code 3, subcode 3)"},
		{3, 4, "UPDATE message error, attribute flags error (code 3, subcode 4)"},
		{3, 5, "UPDATE message error, attribute length error (code 3, subcode 5)"},
		{3, 6, "UPDATE message error, invalid ORIGIN attribute (code 3, subcode 6)"},
		{3, 7, "UPDATE message error, AS routing loop (deprecated) (code 3, subcode 7)"},
		{3, 8, "UPDATE message error, invalid NEXT_HOP attribute (code 3, subcode 8)"},
		{3, 9, "UPDATE message error, optional attribute error (code 3, subcode 9)"},
		{3, 10, "UPDATE message error, invalid network field (code 3, subcode 10)"},
		{3, 11, "UPDATE message error, malformed AS_PATH (code 3, subcode 11)"},
		// RFC 4271 §6.5: hold timer expired, which has no subcodes.
		{4, 0, "hold timer expired (code 4, subcode 0)"},
		// RFC 4271 §6.6 and RFC 6608: finite state machine error.
		{5, 0, "finite state machine error (code 5, subcode 0)"},
		{5, 1, "finite state machine error, unexpected message in OpenSent state (code 5, subcode 1)"},
		{5, 2, "finite state machine error, unexpected message in OpenConfirm state (code 5, subcode 2)"},
		{5, 3, "finite state machine error, unexpected message in Established state (code 5, subcode 3)"},
		// RFC 4271 §6.7, RFC 4486, RFC 8538 and RFC 9384: cease.
		{6, 0, "cease (code 6, subcode 0)"},
		{6, 1, "cease, maximum number of prefixes reached (code 6, subcode 1)"},
		{6, 2, "cease, administrative shutdown (code 6, subcode 2)"},
		{6, 3, "cease, peer de-configured (code 6, subcode 3)"},
		{6, 4, "cease, administrative reset (code 6, subcode 4)"},
		{6, 5, "cease, connection rejected (code 6, subcode 5)"},
		{6, 6, "cease, other configuration change (code 6, subcode 6)"},
		{6, 7, "cease, connection collision resolution (code 6, subcode 7)"},
		{6, 8, "cease, out of resources (code 6, subcode 8)"},
		{6, 9, "cease, hard reset (code 6, subcode 9)"},
		{6, 10, "cease, BFD down (code 6, subcode 10)"},
		// RFC 7313: ROUTE-REFRESH message error.
		{7, 0, "ROUTE-REFRESH message error (code 7, subcode 0)"},
		{7, 1, "ROUTE-REFRESH message error, invalid message length (code 7, subcode 1)"},
		// Unknown subcodes of known codes, and unknown codes.
		{1, 4, "message header error, unknown subcode (code 1, subcode 4)"},
		{2, 8, "OPEN message error, unknown subcode (code 2, subcode 8)"},
		{3, 12, "UPDATE message error, unknown subcode (code 3, subcode 12)"},
		{4, 1, "hold timer expired, unknown subcode (code 4, subcode 1)"},
		{5, 4, "finite state machine error, unknown subcode (code 5, subcode 4)"},
		{6, 255, "cease, unknown subcode (code 6, subcode 255)"},
		{7, 2, "ROUTE-REFRESH message error, unknown subcode (code 7, subcode 2)"},
		{0, 0, "unknown error (code 0, subcode 0)"},
		{9, 9, "unknown error (code 9, subcode 9)"},
		{255, 1, "unknown error (code 255, subcode 1)"},
	}
	for _, tc := range tests {
		for _, dir := range []direction{sent, received} {
			want := dir.String() + " NOTIFICATION: " + tc.want
			if got := notificationText(dir, tc.code, tc.subcode); got != want {
				t.Errorf("notificationText(%v, %d, %d) = %q, want %q", dir, tc.code, tc.subcode, got, want)
			}
		}
	}
}

func TestNotificationQuotesTheShutdownCommunication(t *testing.T) {
	n := notification{dir: received, code: 6, subcode: 2, communication: "maintenance \"window\"\n"}
	want := `received NOTIFICATION: cease, administrative shutdown (code 6, subcode 2): "maintenance \"window\"\n"`
	if got := n.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// gobgpLike returns a logger built like the one GoBGP gives a neighbor's
// state machine, over a notificationHandler that appends what it reports
// to got and passes records on to a text handler at level.
func gobgpLike(level slog.Level, got *[]notification) (*slog.Logger, *bytes.Buffer) {
	var out bytes.Buffer
	h := newNotificationHandler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: level}), func(n notification) {
		*got = append(*got, n)
	})
	logger := slog.New(h).With("component", "gobgp").With(slog.String("Topic", "Peer"), slog.String("Key", "198.18.0.1"))
	return logger, &out
}

func TestNotificationHandlerReportsGoBGPsNotifications(t *testing.T) {
	var got []notification
	logger, out := gobgpLike(slog.LevelInfo, &got)
	// As GoBGP v4.8.0's fsm.sendNotification and its receive loop log them.
	logger.Info("sent notification", slog.String("State", "BGP_FSM_ACTIVE"), slog.Int("Code", 2), slog.Int("Subcode", 2), slog.Any("Data", []byte{}))
	logger.Info("received notification", slog.Int("Code", 6), slog.Int("Subcode", 4), slog.String("Communicated-Reason", "BFD is down"), slog.Any("Data", []byte{}))
	logger.Info("Peer Up")
	logger.Info("sent notification", slog.Int("Code", 300), slog.Int("Subcode", 1))
	logger.Info("sent notification", slog.Int("Code", 2))

	want := []notification{
		{dir: sent, code: 2, subcode: 2},
		{dir: received, code: 6, subcode: 4, communication: "BFD is down"},
	}
	if len(got) != len(want) {
		t.Fatalf("reported %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("notification %d is %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, line := range []string{`msg="sent notification"`, `msg="received notification"`, `msg="Peer Up"`, "Key=198.18.0.1"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("the log lacks %s:\n%s", line, out.String())
		}
	}
}

func TestNotificationHandlerReportsWhatTheEngineDoesNotLog(t *testing.T) {
	var got []notification
	logger, out := gobgpLike(slog.LevelWarn, &got)
	logger.Info("sent notification", slog.Int("Code", 2), slog.Int("Subcode", 2))
	logger.Warn("hold timer expired")
	if len(got) != 1 || got[0] != (notification{dir: sent, code: 2, subcode: 2}) {
		t.Errorf("reported %+v, want the sent bad peer AS", got)
	}
	if strings.Contains(out.String(), "sent notification") || !strings.Contains(out.String(), "hold timer expired") {
		t.Errorf("a Warn-level log got:\n%s\nwant only the warning", out.String())
	}
	if logger.Enabled(t.Context(), slog.LevelDebug) {
		t.Error("debug records are enabled although neither the engine nor the notifications need them")
	}
}

func TestNotificationMemoryNamesOnlyTheNotificationBeforeTheEvent(t *testing.T) {
	var m notificationMemory
	t0 := time.Now()
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	if got := m.forEvent(at(1)); got != "" {
		t.Errorf("with nothing logged, the event got %q", got)
	}
	m.record(notification{dir: sent, code: 2, subcode: 2}, at(2))
	if got := m.forEvent(at(3)); got == "" {
		t.Error("the event after the NOTIFICATION did not get it")
	}
	if got := m.forEvent(at(4)); got != "" {
		t.Errorf("a second event got %q, which the first event had already used", got)
	}
	m.record(notification{dir: received, code: 6}, at(6))
	if got := m.forEvent(at(5)); got != "" {
		t.Errorf("an event stamped before the NOTIFICATION got %q", got)
	}
}

func TestNotificationMemoryTellsUnloggedReceivedNotifications(t *testing.T) {
	var m notificationMemory
	if m.unloggedReceived(0) {
		t.Error("no NOTIFICATION received, yet one is unlogged")
	}
	m.record(notification{dir: received, code: 6, subcode: 2}, time.Now())
	m.record(notification{dir: sent, code: 2, subcode: 2}, time.Now())
	if m.unloggedReceived(1) {
		t.Error("the one NOTIFICATION received was logged, yet one is unlogged")
	}
	if !m.unloggedReceived(2) {
		t.Error("GoBGP counts a second NOTIFICATION received that was not logged, and it was not found")
	}
	if m.unloggedReceived(2) {
		t.Error("the unlogged NOTIFICATION was reported twice")
	}
}
