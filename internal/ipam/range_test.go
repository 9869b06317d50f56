package ipam

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		in          string
		first, last string
		str         string
		size        uint64
	}{
		{name: "an IPv4 prefix covers its whole block", in: "203.0.113.0/24", first: "203.0.113.0", last: "203.0.113.255", str: "203.0.113.0/24", size: 256},
		{name: "an IPv6 /64 is larger than a uint64 can count", in: "2001:db8:100::/64", first: "2001:db8:100::", last: "2001:db8:100:0:ffff:ffff:ffff:ffff", str: "2001:db8:100::/64", size: math.MaxUint64},
		{name: "an IPv6 /65 fits in a uint64", in: "2001:db8:100::/65", first: "2001:db8:100::", last: "2001:db8:100:0:7fff:ffff:ffff:ffff", str: "2001:db8:100::/65", size: 1 << 63},
		{name: "a first-last range keeps that form", in: "203.0.113.10-203.0.113.20", first: "203.0.113.10", last: "203.0.113.20", str: "203.0.113.10-203.0.113.20", size: 11},
		{name: "spaces around the dash are tolerated", in: " 203.0.113.10 - 203.0.113.20 ", first: "203.0.113.10", last: "203.0.113.20", str: "203.0.113.10-203.0.113.20", size: 11},
		{name: "a first-last range that is exactly a prefix prints as a prefix", in: "203.0.113.0-203.0.113.255", first: "203.0.113.0", last: "203.0.113.255", str: "203.0.113.0/24", size: 256},
		{name: "a single IPv4 address as a /32", in: "203.0.113.5/32", first: "203.0.113.5", last: "203.0.113.5", str: "203.0.113.5/32", size: 1},
		{name: "a single IPv6 address as a range prints as a /128", in: "2001:db8::1-2001:db8::1", first: "2001:db8::1", last: "2001:db8::1", str: "2001:db8::1/128", size: 1},
		{name: "an IPv6 range crossing the 64-bit boundary has the right size", in: "2001:db8::ffff:ffff:ffff:ffff-2001:db8:0:1::1", first: "2001:db8::ffff:ffff:ffff:ffff", last: "2001:db8:0:1::1", str: "2001:db8::ffff:ffff:ffff:ffff-2001:db8:0:1::1", size: 3},
		{name: "a range starting at an unaligned address is not a prefix", in: "203.0.113.1-203.0.113.2", first: "203.0.113.1", last: "203.0.113.2", str: "203.0.113.1-203.0.113.2", size: 2},
		{name: "all of IPv4 is counted exactly", in: "0.0.0.0/0", first: "0.0.0.0", last: "255.255.255.255", str: "0.0.0.0/0", size: 1 << 32},
		{name: "all of IPv6 saturates", in: "::/0", first: "::", last: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", str: "::/0", size: math.MaxUint64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRange(tt.in)
			if err != nil {
				t.Fatalf("ParseRange(%q): %v", tt.in, err)
			}
			if got := r.First().String(); got != tt.first {
				t.Errorf("First() = %s, want %s", got, tt.first)
			}
			if got := r.Last().String(); got != tt.last {
				t.Errorf("Last() = %s, want %s", got, tt.last)
			}
			if got := r.String(); got != tt.str {
				t.Errorf("String() = %s, want %s", got, tt.str)
			}
			if got := r.Size(); got != tt.size {
				t.Errorf("Size() = %d, want %d", got, tt.size)
			}
			again, err := ParseRange(r.String())
			if err != nil || again != r {
				t.Errorf("ParseRange(String()) = %v, %v; want %v", again, err, r)
			}
		})
	}
}

func TestParseRangeRefusesBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		reason string
	}{
		{name: "an empty string is refused", in: "", reason: "it is empty"},
		{name: "a bare address is refused", in: "203.0.113.5", reason: "want a CIDR prefix"},
		{name: "a prefix with host bits set is refused and the fix suggested", in: "203.0.113.7/24", reason: `host bits are set (did you mean "203.0.113.0/24"?)`},
		{name: "an IPv6 prefix with host bits set is refused", in: "2001:db8:100::1/64", reason: `did you mean "2001:db8:100::/64"?`},
		{name: "a prefix length longer than the address is refused", in: "203.0.113.0/33", reason: "prefix length 33 is longer than an IPv4 address"},
		{name: "a missing prefix length is refused", in: "203.0.113.0/", reason: `prefix length "" is not a number`},
		{name: "a negative prefix length is refused", in: "203.0.113.0/-1", reason: `prefix length "-1" is not a number`},
		{name: "a signed prefix length is refused", in: "203.0.113.0/+8", reason: `prefix length "+8" is not a number`},
		{name: "a prefix with a bad address is refused", in: "300.0.113.0/24", reason: `address "300.0.113.0" is not an IP address`},
		{name: "a range whose first address is after its last is refused", in: "203.0.113.20-203.0.113.10", reason: "first address is after last address"},
		{name: "a range mixing families is refused", in: "203.0.113.1-2001:db8::1", reason: "first address is IPv4 but last address is IPv6"},
		{name: "a range with a zone is refused", in: "fe80::1%eth0-fe80::2", reason: `first address "fe80::1%eth0" has a zone`},
		{name: "a prefix of IPv4-mapped IPv6 addresses is refused", in: "::ffff:203.0.113.0/120", reason: `IPv4-mapped IPv6 address; write "203.0.113.0" instead`},
		{name: "a range of IPv4-mapped IPv6 addresses is refused", in: "::ffff:203.0.113.1-::ffff:203.0.113.2", reason: "IPv4-mapped"},
		{name: "a range with words for addresses is refused", in: "a-b", reason: `first address "a" is not an IP address`},
		{name: "a range without a last address is refused", in: "203.0.113.1-", reason: `last address "" is not an IP address`},
		{name: "a range with three parts is refused", in: "203.0.113.1-203.0.113.2-203.0.113.3", reason: `last address "203.0.113.2-203.0.113.3" is not an IP address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRange(tt.in)
			if err == nil {
				t.Fatalf("ParseRange(%q) = %v, want an error", tt.in, r)
			}
			if r != (Range{}) {
				t.Errorf("ParseRange(%q) returned %v along with its error, want the zero Range", tt.in, r)
			}
			prefix := "invalid range " + strconv.Quote(tt.in) + ": "
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not contain %q", err, tt.reason)
			}
		})
	}
}

func TestRangeMethods(t *testing.T) {
	t.Parallel()
	v4 := mustRange("203.0.113.10-203.0.113.20")
	v6 := mustRange("2001:db8:100::/64")
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"a range contains its first address", v4.Contains(mustAddr("203.0.113.10")), true},
		{"a range contains its last address", v4.Contains(mustAddr("203.0.113.20")), true},
		{"a range does not contain the address before it", v4.Contains(mustAddr("203.0.113.9")), false},
		{"a range does not contain the address after it", v4.Contains(mustAddr("203.0.113.21")), false},
		{"an IPv4 range does not contain the IPv4-mapped form of its addresses", v4.Contains(mustAddr("::ffff:203.0.113.15")), false},
		{"an IPv6 range does not contain a zoned address", v6.Contains(mustAddr("2001:db8:100::1%eth0")), false},
		{"an IPv6 range contains an address inside it", v6.Contains(mustAddr("2001:db8:100::1")), true},
		{"the zero range contains nothing", Range{}.Contains(mustAddr("0.0.0.0")), false},
		{"ranges sharing one address overlap", v4.Overlaps(mustRange("203.0.113.20-203.0.113.30")), true},
		{"a range overlaps a range inside it", v4.Overlaps(mustRange("203.0.113.12/31")), true},
		{"adjacent ranges do not overlap", v4.Overlaps(mustRange("203.0.113.21-203.0.113.30")), false},
		{"ranges of different families do not overlap", v4.Overlaps(v6), false},
		{"the zero range overlaps nothing", Range{}.Overlaps(Range{}), false},
		{"the zero range is not valid", Range{}.IsValid(), false},
		{"the zero range has size 0", Range{}.Size() == 0, true},
		{"an IPv4 range is IPv4", v4.Family() == IPv4, true},
		{"an IPv6 range is IPv6", v6.Family() == IPv6, true},
		{"the zero range has no family", Range{}.Family() == 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestFamily(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"IPv4 prints as IPv4", IPv4.String(), "IPv4"},
		{"IPv6 prints as IPv6", IPv6.String(), "IPv6"},
		{"an unknown family prints its number", Family(5).String(), "Family(5)"},
		{"an IPv4 address is IPv4", FamilyOf(mustAddr("198.51.100.1")).String(), "IPv4"},
		{"an IPv6 address is IPv6", FamilyOf(mustAddr("2001:db8::1")).String(), "IPv6"},
		{"an IPv4-mapped address is IPv6 as in net/netip", FamilyOf(mustAddr("::ffff:198.51.100.1")).String(), "IPv6"},
		{"the zero address has no family", FamilyOf(netip.Addr{}).String(), "Family(0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{
		"203.0.113.0/24", "2001:db8:100::/64", "203.0.113.10-203.0.113.20",
		" 203.0.113.10 - 203.0.113.20 ", "203.0.113.7/24", "::/0", "0.0.0.0/0",
		"fe80::1%eth0-fe80::2", "::ffff:1.2.3.4/128", "1.2.3.4-1.2.3.3", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRange(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid range "+strconv.Quote(s)+": ") {
				t.Fatalf("error %q does not quote the input", err)
			}
			return
		}
		if !r.IsValid() || r.Family() != FamilyOf(r.Last()) || r.Last().Less(r.First()) {
			t.Fatalf("ParseRange(%q) = %v: not a valid range", s, r)
		}
		if r.First().Zone() != "" || r.First().Is4In6() {
			t.Fatalf("ParseRange(%q) = %v: zone or mapped address accepted", s, r)
		}
		if !r.Contains(r.First()) || !r.Contains(r.Last()) || r.Size() == 0 {
			t.Fatalf("ParseRange(%q) = %v: does not contain its own ends", s, r)
		}
		again, err := ParseRange(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseRange(%q).String() = %q does not round-trip: %v, %v", s, r.String(), again, err)
		}
	})
}
