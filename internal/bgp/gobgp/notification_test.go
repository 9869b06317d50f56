package gobgp

import "testing"

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
