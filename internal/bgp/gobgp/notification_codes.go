package gobgp

import "fmt"

// The names of BGP's NOTIFICATION error codes and subcodes, as the RFCs
// that define them give them.

// notificationText says what a NOTIFICATION with code and subcode means,
// with the names of RFC 4271 §4.5 and §6 and of the RFCs that added codes
// and subcodes, followed by the numbers, so that an unknown code or
// subcode still says everything that is known about it.
func notificationText(dir direction, code, subcode uint8) string {
	return fmt.Sprintf("%s NOTIFICATION: %s (code %d, subcode %d)", dir, errorWords(code, subcode), code, subcode)
}

// errorWords names an error code and, unless it is 0 (unspecific), its
// subcode.
func errorWords(code, subcode uint8) string {
	name := errorCodeName(code)
	if name == "" {
		return "unknown error"
	}
	if subcode == 0 {
		return name
	}
	sub := errorSubcodeName(code, subcode)
	if sub == "" {
		sub = "unknown subcode"
	}
	return name + ", " + sub
}

// errorCodeName names the error codes of RFC 4271 §4.5 and RFC 7313, or
// returns "" for an unknown code.
func errorCodeName(code uint8) string {
	switch code {
	case 1:
		return "message header error"
	case 2:
		return "OPEN message error"
	case 3:
		return "UPDATE message error"
	case 4:
		return "hold timer expired"
	case 5:
		return "finite state machine error"
	case 6:
		return "cease"
	case 7:
		return "ROUTE-REFRESH message error"
	}
	return ""
}

// errorSubcodeName names a subcode of a known error code, or returns ""
// for an unknown one. The subcodes are those of RFC 4271 §6.1-6.3, RFC
// 5492 and RFC 9234 (OPEN), RFC 6608 (finite state machine), RFC 4486,
// RFC 8538 and RFC 9384 (cease) and RFC 7313 (ROUTE-REFRESH).
func errorSubcodeName(code, subcode uint8) string {
	switch code {
	case 1:
		switch subcode {
		case 1:
			return "connection not synchronized"
		case 2:
			return "bad message length"
		case 3:
			return "bad message type"
		}
	case 2:
		switch subcode {
		case 1:
			return "unsupported version number"
		case 2:
			return "bad peer AS"
		case 3:
			return "bad BGP identifier"
		case 4:
			return "unsupported optional parameter"
		case 5:
			return "authentication failure (deprecated)"
		case 6:
			return "unacceptable hold time"
		case 7:
			return "unsupported capability"
		case 11:
			return "role mismatch"
		}
	case 3:
		switch subcode {
		case 1:
			return "malformed attribute list"
		case 2:
			return "unrecognized well-known attribute"
		case 3:
			return "missing well-known attribute"
		case 4:
			return "attribute flags error"
		case 5:
			return "attribute length error"
		case 6:
			return "invalid ORIGIN attribute"
		case 7:
			return "AS routing loop (deprecated)"
		case 8:
			return "invalid NEXT_HOP attribute"
		case 9:
			return "optional attribute error"
		case 10:
			return "invalid network field"
		case 11:
			return "malformed AS_PATH"
		}
	case 5:
		switch subcode {
		case 1:
			return "unexpected message in OpenSent state"
		case 2:
			return "unexpected message in OpenConfirm state"
		case 3:
			return "unexpected message in Established state"
		}
	case 6:
		switch subcode {
		case 1:
			return "maximum number of prefixes reached"
		case 2:
			return "administrative shutdown"
		case 3:
			return "peer de-configured"
		case 4:
			return "administrative reset"
		case 5:
			return "connection rejected"
		case 6:
			return "other configuration change"
		case 7:
			return "connection collision resolution"
		case 8:
			return "out of resources"
		case 9:
			return "hard reset"
		case 10:
			return "BFD down"
		}
	case 7:
		if subcode == 1 {
			return "invalid message length"
		}
	}
	return ""
}
