package ipam

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// labelsMatch is a tiny LabelMatcher for tests: it matches labels that
// contain every key/value pair of the map.
type labelsMatch map[string]string

func (m labelsMatch) Matches(labels map[string]string) bool {
	for k, v := range m {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func mustRange(s string) Range {
	r, err := ParseRange(s)
	if err != nil {
		panic(err)
	}
	return r
}

func mustRanges(ss ...string) []Range {
	rs := make([]Range, len(ss))
	for i, s := range ss {
		rs[i] = mustRange(s)
	}
	return rs
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func mustAddrs(ss ...string) []netip.Addr {
	as := make([]netip.Addr, len(ss))
	for i, s := range ss {
		as[i] = mustAddr(s)
	}
	return as
}

// pool returns an automatically assigning pool, the common case in tests.
func pool(name string, ranges ...string) Pool {
	return Pool{Name: name, Ranges: mustRanges(ranges...), AutoAssign: true}
}

// svc returns a single-stack IPv4 Service in namespace "default".
func svc(name string) Service {
	return Service{Key: "default/" + name, Namespace: "default", Families: []Family{IPv4}}
}

// dualStack makes s an IPv4-first dual-stack Service under policy.
func dualStack(s Service, policy FamilyPolicy) Service {
	s.Policy, s.Families = policy, []Family{IPv4, IPv6}
	return s
}

func tcp(ports ...int32) []Port {
	ps := make([]Port, len(ports))
	for i, p := range ports {
		ps[i] = Port{Protocol: "TCP", Port: p}
	}
	return ps
}

func addrStrings(as []netip.Addr) []string {
	ss := make([]string, len(as))
	for i, a := range as {
		ss[i] = a.String()
	}
	return ss
}

// newAllocatorWith returns an allocator with pools, failing the test if any
// pool is rejected.
func newAllocatorWith(t testing.TB, pools ...Pool) *Allocator {
	t.Helper()
	a := NewAllocator()
	if rejected, moved := a.SetPools(pools); len(rejected) > 0 || len(moved) > 0 {
		t.Fatalf("SetPools: rejected %v, moved %v", rejected, moved)
	}
	return a
}

// mustAssign assigns s and fails the test on error.
func mustAssign(t testing.TB, a *Allocator, s Service) Assignment {
	t.Helper()
	asg, err := a.Assign(s)
	if err != nil {
		t.Fatalf("Assign(%s): %v", s.Key, err)
	}
	return asg
}

// checkAssignment compares an assignment with the wanted pool and addresses.
func checkAssignment(t testing.TB, what string, got Assignment, wantPool string, wantAddrs []string) {
	t.Helper()
	if got.Pool != wantPool || !slices.Equal(addrStrings(got.Addrs), wantAddrs) {
		t.Errorf("%s = %s %v, want %s %v", what, got.Pool, addrStrings(got.Addrs), wantPool, wantAddrs)
	}
}

// checkError checks that err contains want (or is nil when want is empty)
// and, when kind is set, wraps kind.
func checkError(t testing.TB, err error, want string, kind error) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Errorf("got no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error %q does not contain %q", err, want)
	}
	if kind != nil && err != nil && !errors.Is(err, kind) {
		t.Errorf("error %q does not wrap %v", err, kind)
	}
}
