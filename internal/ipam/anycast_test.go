package ipam

import (
	"math"
	"slices"
	"strconv"
	"testing"
)

// TestIPv6PoolsNeverHandOutSubnetRouterAnycast hands out every address of a
// small pool and compares the whole list, so that it shows both which
// address is skipped and that nothing else is.
func TestIPv6PoolsNeverHandOutSubnetRouterAnycast(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ranges []string
		want   []string // every address the pool hands out, in order
	}{
		{
			name:   "a CIDR entry skips its network address",
			ranges: []string{"2001:db8:100::/126"},
			want:   []string{"2001:db8:100::1", "2001:db8:100::2", "2001:db8:100::3"},
		},
		{
			name:   "a CIDR entry longer than /64 skips its own network address",
			ranges: []string{"2001:db8:100::100/126"},
			want:   []string{"2001:db8:100::101", "2001:db8:100::102", "2001:db8:100::103"},
		},
		{
			name:   "a /127 hands out only its second address",
			ranges: []string{"2001:db8:100::/127"},
			want:   []string{"2001:db8:100::1"},
		},
		{
			name:   "a range starting at the all-zero interface identifier of its /64 skips it",
			ranges: []string{"2001:db8:100::-2001:db8:100::2"},
			want:   []string{"2001:db8:100::1", "2001:db8:100::2"},
		},
		{
			name:   "a range crossing into the next /64 skips that /64's anycast address",
			ranges: []string{"2001:db8:100:0:ffff:ffff:ffff:fffe-2001:db8:100:1::1"},
			want:   []string{"2001:db8:100:0:ffff:ffff:ffff:fffe", "2001:db8:100:0:ffff:ffff:ffff:ffff", "2001:db8:100:1::1"},
		},
		{
			name:   "a range that is no prefix and holds no all-zero interface identifier loses nothing",
			ranges: []string{"2001:db8:100::5-2001:db8:100::7"},
			want:   []string{"2001:db8:100::5", "2001:db8:100::6", "2001:db8:100::7"},
		},
		{
			name:   "a range covering exactly a prefix is that prefix",
			ranges: []string{"2001:db8:100::4-2001:db8:100::7"},
			want:   []string{"2001:db8:100::5", "2001:db8:100::6", "2001:db8:100::7"},
		},
		{
			name:   "a single /128 the operator named is handed out",
			ranges: []string{"2001:db8:100::/128"},
			want:   []string{"2001:db8:100::"},
		},
		{
			name:   "a single address written as a range is handed out",
			ranges: []string{"2001:db8:100::100-2001:db8:100::100"},
			want:   []string{"2001:db8:100::100"},
		},
		{
			name:   "a named /128 beside a prefix keeps its address and the prefix loses its own",
			ranges: []string{"2001:db8:200::/127", "2001:db8:100::/128"},
			want:   []string{"2001:db8:100::", "2001:db8:200::1"},
		},
		{
			name:   "IPv4 pools still hand out their network address",
			ranges: []string{"203.0.113.0/31"},
			want:   []string{"203.0.113.0", "203.0.113.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkHandsOutExactly(t, pool("p", tt.ranges...), tt.want)
		})
	}
}

// checkHandsOutExactly assigns addresses of p's family from p until it is
// exhausted and checks that they are want, in that order, and that Usage
// counts them before and after.
func checkHandsOutExactly(t *testing.T, p Pool, want []string) {
	t.Helper()
	family := p.Ranges[0].Family()
	a := newAllocatorWith(t, p)
	if got := a.Usage(p.Name)[family]; got != (FamilyUsage{Available: uint64(len(want))}) {
		t.Errorf("Usage before = %+v, want %d available", got, len(want))
	}
	var got []string
	for i := 0; i <= len(want); i++ {
		asg, err := a.Assign(with(svc("s"+strconv.Itoa(i)), func(s *Service) { s.Families = []Family{family} }))
		if err != nil {
			checkError(t, err, "no free "+family.String()+" address in pool "+strconv.Quote(p.Name), ErrExhausted)
			break
		}
		got = append(got, asg.Addrs[0].String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("handed out %v, want %v", got, want)
	}
	if got := a.Usage(p.Name)[family]; got != (FamilyUsage{Assigned: uint64(len(want))}) {
		t.Errorf("Usage when full = %+v, want %d assigned and none available", got, len(want))
	}
}

// TestSubnetRouterAnycastIsNotCounted checks the count of ranges too large
// for Usage to show exactly.
func TestSubnetRouterAnycastIsNotCounted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want u128
	}{
		// 2^66 addresses in four /64s, each losing its all-zero address.
		{in: "2001:db8:100::/62", want: u128{hi: 3, lo: math.MaxUint64 - 3}},
		// 2^56 addresses less the network address.
		{in: "2001:db8:100::/72", want: u128{lo: 1<<56 - 1}},
		// 2 + 2^64 + 2 addresses touching two /64s after the first.
		{in: "2001:db8:100:0:ffff:ffff:ffff:fffe-2001:db8:100:2::1", want: u128{hi: 1, lo: 2}},
		{in: "2001:db8:100::5/128", want: u128{lo: 1}},
	}
	for _, tt := range tests {
		p := pool("p", tt.in)
		rs := newRangeState(p.Ranges[0], &poolState{Pool: p})
		if got := rs.usableCount(); got != tt.want {
			t.Errorf("usable addresses of %s = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestRequestedSubnetRouterAnycastIsRefused(t *testing.T) {
	t.Parallel()
	v6 := pool("v6", "2001:db8:100::/64", "2001:db8:200::100/120", "2001:db8:300:0:ffff:ffff:ffff:ffff-2001:db8:300:1::1", "2001:db8:400::/128")
	ipv6 := func(name string) Service {
		return with(svc(name), func(s *Service) { s.Families = []Family{IPv6} })
	}
	tests := []struct {
		name, addr, wantErr string
	}{
		{
			name: "the network address of a /64", addr: "2001:db8:100::",
			wantErr: `address "2001:db8:100::" is the subnet-router anycast address of 2001:db8:100::/64 (RFC 4291 section 2.6.1), which routers answer themselves; pool "v6" never hands it out`,
		},
		{
			name: "the network address of a longer prefix", addr: "2001:db8:200::100",
			wantErr: `address "2001:db8:200::100" is the subnet-router anycast address of 2001:db8:200::100/120 (RFC 4291`,
		},
		{
			name: "the all-zero interface identifier inside a range", addr: "2001:db8:300:1::",
			wantErr: `address "2001:db8:300:1::" is the subnet-router anycast address of 2001:db8:300:1::/64 (RFC 4291`,
		},
		{name: "a named /128", addr: "2001:db8:400::"},
		{name: "an ordinary address", addr: "2001:db8:100::1"},
	}
	for _, tt := range tests {
		t.Run("Assign: "+tt.name, func(t *testing.T) {
			a := newAllocatorWith(t, v6)
			asg, err := a.Assign(with(ipv6("web"), func(s *Service) { s.RequestedAddrs = mustAddrs(tt.addr) }))
			if tt.wantErr != "" {
				checkError(t, err, tt.wantErr, ErrNotAllowed)
				return
			}
			checkError(t, err, "", nil)
			checkAssignment(t, "Assign", asg, "v6", []string{tt.addr})
		})
		t.Run("Adopt: "+tt.name, func(t *testing.T) {
			a := newAllocatorWith(t, v6)
			_, err := a.Adopt(ipv6("web"), mustAddrs(tt.addr))
			if tt.wantErr != "" {
				checkError(t, err, tt.wantErr, ErrNotAllowed)
				if _, ok := a.Assignment("default/web"); ok {
					t.Error("a refused adoption was recorded")
				}
				return
			}
			checkError(t, err, "", nil)
		})
	}
}

func TestWideningANamedSlash128MovesTheServiceOffTheAnycastAddress(t *testing.T) {
	t.Parallel()
	web := with(svc("web"), func(s *Service) { s.Families = []Family{IPv6} })
	a := newAllocatorWith(t, pool("v6", "2001:db8:100::/128"))
	checkAssignment(t, "Assign from the /128", mustAssign(t, a, web), "v6", []string{"2001:db8:100::"})
	if _, moved := a.SetPools([]Pool{pool("v6", "2001:db8:100::/120")}); !slices.Equal(moved, []string{"default/web"}) {
		t.Fatalf("moved = %v, want [default/web]", moved)
	}
	checkAssignment(t, "Assign after widening", mustAssign(t, a, web), "v6", []string{"2001:db8:100::1"})
	if got, want := a.Usage("v6")[IPv6], (FamilyUsage{Assigned: 1, Available: 254}); got != want {
		t.Errorf("Usage = %+v, want %+v", got, want)
	}
}

func TestCapacityIsExactAtAnySize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pool Pool
		want map[Family]string // decimal
	}{
		{
			name: "an IPv4 pool counts every address without avoidBuggyIPs",
			pool: pool("p", "203.0.113.0/24", "198.51.100.10-198.51.100.19"),
			want: map[Family]string{IPv4: "266"},
		},
		{
			name: "avoidBuggyIPs leaves out .0 and .255",
			pool: with2(pool("p", "203.0.113.0/24", "198.51.100.250-198.51.101.5"), func(p *Pool) { p.AvoidBuggyIPs = true }),
			want: map[Family]string{IPv4: "264"}, // 254 + 12 - 2
		},
		{
			name: "an IPv6 /64 is 2^64 less its subnet-router anycast address",
			pool: pool("p", "2001:db8:100::/64"),
			want: map[Family]string{IPv6: "18446744073709551615"},
		},
		{
			name: "a /48 loses the anycast address of each of its 2^16 /64s",
			pool: pool("p", "2001:db8:100::/48", "203.0.113.0/24"),
			want: map[Family]string{IPv6: "1208925819614629174640640", IPv4: "256"}, // 2^80 - 2^16
		},
		{
			name: "the whole IPv6 space is counted exactly",
			pool: pool("p", "::/0"),
			want: map[Family]string{IPv6: "340282366920938463444927863358058659840"}, // 2^128 - 2^64
		},
		{
			name: "a named /128 counts",
			pool: pool("p", "2001:db8:100::/128", "2001:db8:200::/120"),
			want: map[Family]string{IPv6: "256"},
		},
		{
			name: "a pool without ranges has no capacity",
			pool: Pool{Name: "p"},
			want: map[Family]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.pool.Capacity()
			if len(got) != len(tt.want) {
				t.Errorf("Capacity = %v, want %v", got, tt.want)
			}
			for f, want := range tt.want {
				if got[f] == nil || got[f].String() != want {
					t.Errorf("Capacity()[%v] = %v, want %s", f, got[f], want)
				}
			}
		})
	}
}
