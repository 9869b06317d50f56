package ipam

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// Family is an IP address family.
type Family uint8

// The two address families. Their values are the IP version numbers so that
// they read naturally in logs and tests.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// String returns "IPv4" or "IPv6", or "Family(n)" for any other value so that
// a bad value is visible rather than silently printed as a known family.
func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

// FamilyOf returns the family of a. As in net/netip, an IPv4-mapped IPv6
// address is IPv6. The zero Addr has no family and yields 0.
func FamilyOf(a netip.Addr) Family {
	switch {
	case a.Is4():
		return IPv4
	case a.Is6():
		return IPv6
	}
	return 0
}

// familyIndex maps a family to a small array index, so that per-family data
// can live in fixed arrays instead of maps.
func familyIndex(f Family) int {
	if f == IPv6 {
		return 1
	}
	return 0
}

// families lists the known families in the order Usage and tests use.
var families = [2]Family{IPv4, IPv6}

// Range is a contiguous, inclusive range of addresses of one family.
//
// The zero value is the empty, invalid range: it contains nothing, overlaps
// nothing and has size 0. Ranges are values; no method modifies one.
type Range struct {
	first, last netip.Addr
}

// ParseRange parses either a CIDR prefix ("203.0.113.0/24",
// "2001:db8:100::/64") or an inclusive "first-last" range
// ("203.0.113.10-203.0.113.20"; spaces around '-' are tolerated).
//
// A prefix with host bits set is refused rather than masked, because an
// operator who wrote "203.0.113.7/24" most likely made a typo and silently
// handing out the whole /24 would be a surprise. Zones and IPv4-mapped IPv6
// addresses are refused because a load-balancer address is neither
// link-local nor meant to be announced in mapped form.
func ParseRange(s string) (Range, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return Range{}, rangeError(s, "it is empty; want a CIDR prefix such as \"203.0.113.0/24\" or \"first-last\"")
	}
	if addrPart, bitsPart, isPrefix := strings.Cut(in, "/"); isPrefix {
		return parsePrefixRange(s, addrPart, bitsPart)
	}
	firstPart, lastPart, isPair := strings.Cut(in, "-")
	if !isPair {
		return Range{}, rangeError(s, "want a CIDR prefix such as \"203.0.113.0/24\" or \"first-last\"")
	}
	first, err := parseRangeAddr(s, strings.TrimSpace(firstPart), "first address")
	if err != nil {
		return Range{}, err
	}
	last, err := parseRangeAddr(s, strings.TrimSpace(lastPart), "last address")
	if err != nil {
		return Range{}, err
	}
	if FamilyOf(first) != FamilyOf(last) {
		return Range{}, rangeError(s, fmt.Sprintf("first address is %v but last address is %v", FamilyOf(first), FamilyOf(last)))
	}
	if last.Less(first) {
		return Range{}, rangeError(s, "first address is after last address")
	}
	return Range{first: first, last: last}, nil
}

func parsePrefixRange(s, addrPart, bitsPart string) (Range, error) {
	addr, err := parseRangeAddr(s, addrPart, "address")
	if err != nil {
		return Range{}, err
	}
	prefixLen, err := strconv.Atoi(bitsPart)
	if err != nil || bitsPart == "" || bitsPart[0] < '0' || bitsPart[0] > '9' {
		return Range{}, rangeError(s, fmt.Sprintf("prefix length %q is not a number", bitsPart))
	}
	if prefixLen > addr.BitLen() {
		return Range{}, rangeError(s, fmt.Sprintf("prefix length %d is longer than an %v address", prefixLen, FamilyOf(addr)))
	}
	prefix := netip.PrefixFrom(addr, prefixLen)
	if masked := prefix.Masked(); masked.Addr() != addr {
		return Range{}, rangeError(s, fmt.Sprintf("host bits are set (did you mean %q?)", masked.String()))
	}
	return rangeOfPrefix(prefix), nil
}

func parseRangeAddr(s, part, what string) (netip.Addr, error) {
	addr, err := netip.ParseAddr(part)
	if err != nil {
		return netip.Addr{}, rangeError(s, fmt.Sprintf("%s %q is not an IP address", what, part))
	}
	if addr.Zone() != "" {
		return netip.Addr{}, rangeError(s, fmt.Sprintf("%s %q has a zone, which pools do not allow", what, part))
	}
	if addr.Is4In6() {
		return netip.Addr{}, rangeError(s, fmt.Sprintf("%s %q is an IPv4-mapped IPv6 address; write %q instead", what, part, addr.Unmap().String()))
	}
	return addr, nil
}

func rangeError(s, reason string) error {
	return fmt.Errorf("invalid range %q: %s", s, reason)
}

// rangeOfPrefix returns the range covering exactly the masked prefix p.
func rangeOfPrefix(p netip.Prefix) Range {
	first := p.Masked().Addr()
	hostBits := uint(first.BitLen() - p.Bits())
	last := addrOf(u128Of(first).or(lowOnes(hostBits)), FamilyOf(first))
	return Range{first: first, last: last}
}

// IsValid reports whether r is a real range rather than the zero Range.
func (r Range) IsValid() bool { return r.first.IsValid() }

// First returns the lowest address of r.
func (r Range) First() netip.Addr { return r.first }

// Last returns the highest address of r.
func (r Range) Last() netip.Addr { return r.last }

// Family returns the family of r's addresses, or 0 for the zero Range.
func (r Range) Family() Family { return FamilyOf(r.first) }

// Contains reports whether a lies in r. An address with a zone is never
// contained, as with netip.Prefix.Contains, and an IPv4-mapped IPv6 address
// is not contained in an IPv4 range.
func (r Range) Contains(a netip.Addr) bool {
	if !r.IsValid() || !a.IsValid() || a.Zone() != "" || FamilyOf(a) != r.Family() {
		return false
	}
	return r.first.Compare(a) <= 0 && a.Compare(r.last) <= 0
}

// Overlaps reports whether r and o share at least one address.
func (r Range) Overlaps(o Range) bool {
	if !r.IsValid() || !o.IsValid() || r.Family() != o.Family() {
		return false
	}
	return r.first.Compare(o.last) <= 0 && o.first.Compare(r.last) <= 0
}

// Size returns the number of addresses in r. Ranges larger than 2^64-1
// addresses (only possible for IPv6) report math.MaxUint64.
func (r Range) Size() uint64 {
	if !r.IsValid() {
		return 0
	}
	return u128Of(r.last).sub(u128Of(r.first)).add1().saturate()
}

// String returns r in CIDR form when it is exactly one prefix, and as
// "first-last" otherwise, so that a range written as a prefix prints the way
// it was written.
func (r Range) String() string {
	if !r.IsValid() {
		return "invalid Range"
	}
	if p, ok := r.prefix(); ok {
		return p.String()
	}
	return r.first.String() + "-" + r.last.String()
}

// prefix returns the prefix that covers exactly r, if there is one.
func (r Range) prefix() (netip.Prefix, bool) {
	first, last := u128Of(r.first), u128Of(r.last)
	span := last.sub(first) // 2^k-1 for a prefix of k host bits
	hostBits := span.bitLen()
	if span != lowOnes(uint(hostBits)) || !first.and(span).isZero() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(r.first, r.first.BitLen()-hostBits), true
}

// u128 is an address as a 128-bit unsigned integer; IPv4 addresses use the
// low 32 bits. It makes address arithmetic (sizes, cursors, heaps) cheap and
// keeps the per-range bookkeeping free of netip.Addr's zone pointer.
type u128 struct{ hi, lo uint64 }

func u128Of(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
}

func addrOf(u u128, f Family) netip.Addr {
	if f == IPv4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(u.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], u.hi)
	binary.BigEndian.PutUint64(b[8:], u.lo)
	return netip.AddrFrom16(b)
}

// lowOnes returns a value whose n lowest bits are set.
func lowOnes(n uint) u128 {
	switch {
	case n == 0:
		return u128{}
	case n < 64:
		return u128{lo: 1<<n - 1}
	case n < 128:
		return u128{hi: 1<<(n-64) - 1, lo: math.MaxUint64}
	}
	return u128{hi: math.MaxUint64, lo: math.MaxUint64}
}

func (u u128) cmp(v u128) int {
	switch {
	case u.hi < v.hi:
		return -1
	case u.hi > v.hi:
		return 1
	case u.lo < v.lo:
		return -1
	case u.lo > v.lo:
		return 1
	}
	return 0
}

func (u u128) less(v u128) bool { return u.cmp(v) < 0 }

func (u u128) isZero() bool { return u.hi == 0 && u.lo == 0 }

func (u u128) and(v u128) u128 { return u128{u.hi & v.hi, u.lo & v.lo} }

func (u u128) or(v u128) u128 { return u128{u.hi | v.hi, u.lo | v.lo} }

// add1 returns u+1, saturating at the maximum instead of wrapping, which only
// matters for the size of ::/0.
func (u u128) add1() u128 {
	if u.lo != math.MaxUint64 {
		return u128{u.hi, u.lo + 1}
	}
	if u.hi == math.MaxUint64 {
		return u
	}
	return u128{u.hi + 1, 0}
}

// sub returns u-v; callers guarantee v <= u.
func (u u128) sub(v u128) u128 {
	lo, borrow := bits.Sub64(u.lo, v.lo, 0)
	hi, _ := bits.Sub64(u.hi, v.hi, borrow)
	return u128{hi, lo}
}

// addSat returns u+v, saturating at the maximum.
func (u u128) addSat(v u128) u128 {
	lo, carry := bits.Add64(u.lo, v.lo, 0)
	hi, overflow := bits.Add64(u.hi, v.hi, carry)
	if overflow != 0 {
		return u128{math.MaxUint64, math.MaxUint64}
	}
	return u128{hi, lo}
}

// saturate converts u to uint64, returning math.MaxUint64 when it does not fit.
func (u u128) saturate() uint64 {
	if u.hi != 0 {
		return math.MaxUint64
	}
	return u.lo
}

// big returns u as a big.Int.
func (u u128) big() *big.Int {
	n := new(big.Int).SetUint64(u.hi)
	n.Lsh(n, 64)
	return n.Or(n, new(big.Int).SetUint64(u.lo))
}

// bitLen returns the number of bits needed to represent u.
func (u u128) bitLen() int {
	if u.hi != 0 {
		return 64 + bits.Len64(u.hi)
	}
	return bits.Len64(u.lo)
}
