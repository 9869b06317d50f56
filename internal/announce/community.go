package announce

import (
	"cmp"
	"strconv"
	"strings"

	"github.com/bgplb/bgplb/internal/bgp"
)

// Community is an RFC 1997 standard community, written "ASN:value".
type Community struct{ ASN, Value uint16 }

// LargeCommunity is an RFC 8092 large community, written
// "global:local1:local2". It is the engine's type, so that paths carry
// what ParseCommunity returns.
type LargeCommunity = bgp.LargeCommunity

// GracefulShutdown is the RFC 8326 GRACEFUL_SHUTDOWN community 65535:0.
// A router receiving a path with it lowers the path's LOCAL_PREF to 0, so
// traffic moves to other paths before the path is withdrawn.
var GracefulShutdown = Community{ASN: 0xFFFF, Value: 0}

// String returns the community in its numeric form, such as "65000:100".
// Well-known communities are written as numbers too ("65535:65281" for
// no-export), so that the output parses back to the same value and sorts
// with the others.
func (c Community) String() string {
	return strconv.FormatUint(uint64(c.ASN), 10) + ":" + strconv.FormatUint(uint64(c.Value), 10)
}

// Uint32 returns the community as a path carries it: the ASN in the high
// 16 bits, the value in the low ones. Numeric order of the results is the
// order of ASN, then value.
func (c Community) Uint32() uint32 { return uint32(c.ASN)<<16 | uint32(c.Value) }

// compareLargeCommunity orders large communities field by field.
func compareLargeCommunity(a, b LargeCommunity) int {
	if c := cmp.Compare(a.Global, b.Global); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Local1, b.Local1); c != 0 {
		return c
	}
	return cmp.Compare(a.Local2, b.Local2)
}

// wellKnown maps the names ParseCommunity accepts to the RFC 1997 and
// RFC 3765 well-known communities they stand for.
var wellKnown = map[string]Community{
	"no-export":           {ASN: 0xFFFF, Value: 0xFF01},
	"no-advertise":        {ASN: 0xFFFF, Value: 0xFF02},
	"no-export-subconfed": {ASN: 0xFFFF, Value: 0xFF03},
	"no-peer":             {ASN: 0xFFFF, Value: 0xFF04},
}

// ParseCommunity parses a community as written in an advertisement. Exactly
// one of the results is non-nil when err is nil:
//
//   - "65000:100", two decimal numbers from 0 to 65535, is a standard
//     community;
//   - "4200000000:1:2", three decimal numbers from 0 to 4294967295, is a
//     large community;
//   - "no-export", "no-advertise", "no-export-subconfed" and "no-peer" are
//     the well-known standard communities 65535:65281 to 65535:65284.
//
// Names are matched exactly (lower case), and no spaces or signs are
// allowed. The error wraps ErrInvalidCommunity and quotes s.
func ParseCommunity(s string) (std *Community, large *LargeCommunity, err error) {
	if c, ok := wellKnown[s]; ok {
		return &c, nil, nil
	}
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 2:
		var nums [2]uint16
		for i, p := range parts {
			n, err := strconv.ParseUint(p, 10, 16)
			if err != nil {
				hint := ""
				if i == 0 && isDecimal(p) {
					hint = "; use global:local1:local2 for a large community"
				}
				return nil, nil, errorOf(ErrInvalidCommunity, "community %q: %q is not a number from 0 to 65535%s", s, p, hint)
			}
			nums[i] = uint16(n)
		}
		return &Community{ASN: nums[0], Value: nums[1]}, nil, nil
	case 3:
		var nums [3]uint32
		for i, p := range parts {
			n, err := strconv.ParseUint(p, 10, 32)
			if err != nil {
				return nil, nil, errorOf(ErrInvalidCommunity, "community %q: %q is not a number from 0 to 4294967295", s, p)
			}
			nums[i] = uint32(n)
		}
		return nil, &LargeCommunity{Global: nums[0], Local1: nums[1], Local2: nums[2]}, nil
	}
	return nil, nil, errorOf(ErrInvalidCommunity,
		"community %q: want a:b (standard), a:b:c (large) or one of no-export, no-advertise, no-export-subconfed, no-peer", s)
}

// isDecimal reports whether s is a non-empty string of ASCII digits, so an
// error can tell a too large number from something that is no number.
func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
