package gobgp

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// GoBGP v4 reports a NOTIFICATION it sends or receives only in its log: a
// NOTIFICATION sent while the session is still opening (a wrong peer ASN
// is answered with OPEN message error / bad peer AS) changes no session
// state, so no peer event carries it, and the peer event of a session that
// a NOTIFICATION ended names it only in GoBGP's own terse words. The
// engine therefore reads GoBGP's log records for them, through
// notificationHandler.

// direction tells whether a NOTIFICATION was sent to the peer or received
// from it.
type direction bool

const (
	sent     direction = false
	received direction = true
)

func (d direction) String() string {
	if d == received {
		return "received"
	}
	return "sent"
}

// The log records in which GoBGP reports a NOTIFICATION, at Info level,
// with the attributes Code and Subcode and, for an administrative shutdown
// or reset, the peer's shutdown communication (RFC 9003). They are GoBGP
// v4.8.0's (pkg/server/fsm.go); a GoBGP upgrade that rewords them leaves
// last errors without their NOTIFICATION, which the tests against FRR in
// frr_test.go (a wrong peer AS, a router that refuses the session) catch.
const (
	gobgpSentNotification     = "sent notification"
	gobgpReceivedNotification = "received notification"
	gobgpNotificationLevel    = slog.LevelInfo
	gobgpCodeAttr             = "Code"
	gobgpSubcodeAttr          = "Subcode"
	gobgpCommunicationAttr    = "Communicated-Reason"
)

// notification is one NOTIFICATION message that GoBGP sent or received.
type notification struct {
	dir           direction
	code, subcode uint8
	// communication is the shutdown communication of RFC 9003, if any.
	communication string
}

// String says what the NOTIFICATION means in words, followed by its
// shutdown communication, quoted, since it comes from the peer.
func (n notification) String() string {
	text := notificationText(n.dir, n.code, n.subcode)
	if n.communication != "" {
		text += fmt.Sprintf(": %q", n.communication)
	}
	return text
}

// notificationHandler is the slog.Handler of a GoBGP server's logger. It
// passes every record on to next, the engine's handler, and calls report
// with each NOTIFICATION that GoBGP logs. Each server has a single
// neighbor, so every NOTIFICATION its log reports concerns that neighbor.
type notificationHandler struct {
	next   slog.Handler
	report func(notification)
}

func newNotificationHandler(next slog.Handler, report func(notification)) *notificationHandler {
	return &notificationHandler{next: next, report: report}
}

// Enabled lets GoBGP's notification records through even when the
// engine's handler would drop them, so that a speaker logging only
// warnings still learns of NOTIFICATIONs.
func (h *notificationHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level == gobgpNotificationLevel || h.next.Enabled(ctx, level)
}

// Handle reports the record's NOTIFICATION, if it carries one, and passes
// the record on if the engine's handler wants it.
func (h *notificationHandler) Handle(ctx context.Context, r slog.Record) error {
	if n, ok := notificationOf(r); ok {
		h.report(n)
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *notificationHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return newNotificationHandler(h.next.WithAttrs(attrs), h.report)
}

func (h *notificationHandler) WithGroup(name string) slog.Handler {
	return newNotificationHandler(h.next.WithGroup(name), h.report)
}

// notificationOf returns the NOTIFICATION that a GoBGP log record reports,
// if it reports one with a valid code and subcode.
func notificationOf(r slog.Record) (notification, bool) {
	var n notification
	switch r.Message {
	case gobgpSentNotification:
		n.dir = sent
	case gobgpReceivedNotification:
		n.dir = received
	default:
		return notification{}, false
	}
	var haveCode, haveSubcode bool
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case gobgpCodeAttr:
			n.code, haveCode = octet(a.Value)
		case gobgpSubcodeAttr:
			n.subcode, haveSubcode = octet(a.Value)
		case gobgpCommunicationAttr:
			n.communication = a.Value.String()
		}
		return true
	})
	return n, haveCode && haveSubcode
}

// octet returns v as a byte, if it is an integer that fits in one.
func octet(v slog.Value) (uint8, bool) {
	switch v.Kind() {
	case slog.KindInt64:
		if i := v.Int64(); i >= 0 && i <= 255 {
			return uint8(i), true
		}
	case slog.KindUint64:
		if u := v.Uint64(); u <= 255 {
			return uint8(u), true
		}
	}
	return 0, false
}

// notificationMemory keeps the last NOTIFICATION that a server logged, so
// that the peer event of the state change it caused can name it. GoBGP
// logs a NOTIFICATION in the goroutine of the neighbor's state machine,
// before that goroutine reports the state change and stamps its event,
// so the NOTIFICATION that caused a change is the one logged after the
// previous event and before the event of the change.
//
// It also counts the NOTIFICATIONs received that GoBGP logged, or that
// were reported without their code (see unloggedReceived).
type notificationMemory struct {
	mu        sync.Mutex
	text      string
	at        time.Time
	lastEvent time.Time
	received  uint64
}

// record remembers n, logged at at.
func (m *notificationMemory) record(n notification, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.text, m.at = n.String(), at
	if n.dir == received {
		m.received++
	}
}

// unloggedReceived reports whether total, GoBGP's count of the
// NOTIFICATIONs received from the neighbor, includes one that was neither
// logged nor reported by an earlier call.
func (m *notificationMemory) unloggedReceived(total uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if total <= m.received {
		return false
	}
	m.received = total
	return true
}

// forEvent returns the NOTIFICATION logged between the previous event and
// the event stamped at, or "" if there is none, and makes at the previous
// event. Events must be passed in the order in which they were stamped.
func (m *notificationMemory) forEvent(at time.Time) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	text := ""
	if m.text != "" && m.at.After(m.lastEvent) && !m.at.After(at) {
		text = m.text
	}
	m.lastEvent = at
	return text
}
