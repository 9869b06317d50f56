package ipam

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// rejectCase gives pools to an empty allocator.
type rejectCase struct {
	name         string
	pools        []Pool
	wantRejected map[string]string // pool name → part of its error
	wantInUse    []string
}

// runRejectCases runs each case on an allocator of its own.
func runRejectCases(t *testing.T, tests []rejectCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := NewAllocator()
			rejected, moved := a.SetPools(tt.pools)
			if len(moved) != 0 {
				t.Errorf("moved = %v on an empty allocator", moved)
			}
			if len(rejected) != len(tt.wantRejected) {
				t.Errorf("rejected = %v, want errors for %v", rejected, tt.wantRejected)
			}
			for name, want := range tt.wantRejected {
				err := rejected[name]
				checkError(t, err, want, ErrInvalidPool)
				if strings.Contains(want, "overlaps") != errors.Is(err, ErrOverlap) {
					t.Errorf("pool %s: errors.Is(%v, ErrOverlap) = %v", name, err, errors.Is(err, ErrOverlap))
				}
			}
			var inUse []string
			for _, p := range tt.pools {
				if a.Usage(p.Name) != nil && !slices.Contains(inUse, p.Name) {
					inUse = append(inUse, p.Name)
				}
			}
			if !slices.Equal(inUse, tt.wantInUse) {
				t.Errorf("pools in use = %v, want %v", inUse, tt.wantInUse)
			}
		})
	}
}

// A pool whose ranges overlap each other or a pool accepted before it is
// rejected; ranges of different families or that only touch do not overlap.
func TestSetPoolsRejectsOverlaps(t *testing.T) {
	t.Parallel()
	runRejectCases(t, []rejectCase{
		{
			name:         "a later pool overlapping an earlier one is rejected and the earlier kept",
			pools:        []Pool{pool("a", "203.0.113.0/24"), pool("b", "198.51.100.0/24", "203.0.113.128/25")},
			wantRejected: map[string]string{"b": `pool "b": range "203.0.113.128/25" overlaps range "203.0.113.0/24" of pool "a"`},
			wantInUse:    []string{"a"},
		},
		{
			name:         "the order given decides which of two overlapping pools is kept",
			pools:        []Pool{pool("b", "203.0.113.128/25"), pool("a", "203.0.113.0/24")},
			wantRejected: map[string]string{"a": `pool "a": range "203.0.113.0/24" overlaps range "203.0.113.128/25" of pool "b"`},
			wantInUse:    []string{"b"},
		},
		{
			name: "a pool overlapping only a rejected pool is accepted",
			pools: []Pool{
				pool("a", "198.51.100.0/24"),
				pool("b", "198.51.100.0/25", "203.0.113.0/24"),
				pool("c", "203.0.113.0/24"),
			},
			wantRejected: map[string]string{"b": `range "198.51.100.0/25" overlaps range "198.51.100.0/24" of pool "a"`},
			wantInUse:    []string{"a", "c"},
		},
		{
			name:         "ranges of one pool that overlap each other are rejected",
			pools:        []Pool{pool("a", "203.0.113.0/24", "198.51.100.0/24", "203.0.113.10-203.0.113.20")},
			wantRejected: map[string]string{"a": `pool "a": range "203.0.113.10-203.0.113.20" overlaps range "203.0.113.0/24" of the same pool`},
		},
		{
			name:      "IPv4 and IPv6 ranges never overlap each other",
			pools:     []Pool{pool("a", "0.0.0.0/0"), pool("b", "::/0")},
			wantInUse: []string{"a", "b"},
		},
		{
			name:      "adjacent ranges in different pools are fine",
			pools:     []Pool{pool("a", "203.0.113.0-203.0.113.99"), pool("b", "203.0.113.100-203.0.113.255")},
			wantInUse: []string{"a", "b"},
		},
	})
}

// A pool without a name or ranges, with a zero range or a nil selector, or
// defined twice is rejected.
func TestSetPoolsRejectsMalformedPools(t *testing.T) {
	t.Parallel()
	runRejectCases(t, []rejectCase{
		{
			name:         "a pool without a name is rejected",
			pools:        []Pool{pool("", "203.0.113.0/24")},
			wantRejected: map[string]string{"": "a pool has no name"},
		},
		{
			name:         "a pool without ranges is rejected",
			pools:        []Pool{{Name: "a", AutoAssign: true}},
			wantRejected: map[string]string{"a": `pool "a" has no address ranges`},
		},
		{
			name:         "a pool with a zero range is rejected",
			pools:        []Pool{{Name: "a", Ranges: []Range{{}}}},
			wantRejected: map[string]string{"a": `pool "a" has an empty (zero) range`},
		},
		{
			name:         "a pool with a nil selector is rejected",
			pools:        []Pool{with2(pool("a", "203.0.113.0/24"), func(p *Pool) { p.ServiceSelectors = []LabelMatcher{nil} })},
			wantRejected: map[string]string{"a": `pool "a" has a nil selector`},
		},
		{
			name:         "a pool defined twice keeps the first definition",
			pools:        []Pool{pool("a", "203.0.113.0/24"), pool("a", "198.51.100.0/24")},
			wantRejected: map[string]string{"a": `pool "a" is defined more than once; only the first definition counts`},
			wantInUse:    []string{"a"},
		},
		{
			name:         "a second definition of a rejected pool is not used either",
			pools:        []Pool{{Name: "a"}, pool("a", "198.51.100.0/24")},
			wantRejected: map[string]string{"a": `pool "a" is defined more than once; only the first definition counts` + "\n" + `pool "a" has no address ranges`},
		},
	})
}

func TestRejectedPoolIsNotUsed(t *testing.T) {
	t.Parallel()
	a := NewAllocator()
	rejected, _ := a.SetPools([]Pool{pool("a", "203.0.113.0/25"), with2(pool("b", "203.0.113.0/24"), func(p *Pool) { p.Priority = 1 })})
	if rejected["b"] == nil {
		t.Fatalf("pool b was not rejected: %v", rejected)
	}
	t.Run("automatic assignment skips the rejected pool", func(t *testing.T) {
		got := mustAssign(t, a, svc("web"))
		checkAssignment(t, "Assign", got, "a", []string{"203.0.113.0"})
	})
	t.Run("a Service naming the rejected pool is told why it is not in use", func(t *testing.T) {
		_, err := a.Assign(with(svc("db"), func(s *Service) { s.RequestedPool = "b" }))
		checkError(t, err, `pool "b" is not in use because it was rejected: pool "b": range "203.0.113.0/24" overlaps`, ErrNoPool)
	})
	t.Run("an address only the rejected pool covers is outside every pool", func(t *testing.T) {
		_, err := a.Assign(with(svc("db"), func(s *Service) { s.RequestedAddrs = mustAddrs("203.0.113.200") }))
		checkError(t, err, `address "203.0.113.200" is not in any pool`, ErrNoPool)
	})
}

func TestSetPoolsMovesAffectedServices(t *testing.T) {
	t.Parallel()
	poolA := Pool{Name: "a", Ranges: mustRanges("203.0.113.0/24", "2001:db8:100::/120"), AutoAssign: true}
	poolB := pool("b", "198.51.100.0/24")
	requesting := func(name, key string, addrs ...string) Service {
		return with(svc(name), func(s *Service) {
			s.RequestedAddrs, s.SharingKey = mustAddrs(addrs...), key
			s.Ports = tcp(int32(len(name)) * 10)
			if len(addrs) > 1 {
				s.Policy, s.Families = RequireDualStack, []Family{IPv4, IPv6}
			}
		})
	}
	services := []Service{
		requesting("zero", "", "203.0.113.0"),
		requesting("low", "", "203.0.113.5"),
		requesting("high", "k", "203.0.113.200"),
		requesting("sharer", "k", "203.0.113.200"),
		requesting("dual", "", "203.0.113.6", "2001:db8:100::6"),
		requesting("other", "", "198.51.100.10"),
	}
	tests := []struct {
		name      string
		pools     []Pool
		wantMoved []string
	}{
		{
			name:  "editing pools without changing their ranges moves nobody",
			pools: []Pool{with2(poolA, func(p *Pool) { p.Priority, p.AutoAssign = 7, false }), poolB},
		},
		{
			name:      "shrinking a range moves exactly the Services whose addresses left it",
			pools:     []Pool{with2(poolA, func(p *Pool) { p.Ranges = mustRanges("203.0.113.0/25", "2001:db8:100::/120") }), poolB},
			wantMoved: []string{"default/high", "default/sharer"},
		},
		{
			name:      "removing the IPv6 range moves the dual-stack Service",
			pools:     []Pool{with2(poolA, func(p *Pool) { p.Ranges = mustRanges("203.0.113.0/24") }), poolB},
			wantMoved: []string{"default/dual"},
		},
		{
			name:      "removing a pool moves its Services",
			pools:     []Pool{poolA},
			wantMoved: []string{"default/other"},
		},
		{
			name:      "moving a range to another pool moves its Services",
			pools:     []Pool{poolA, pool("c", "198.51.100.0/24")},
			wantMoved: []string{"default/other"},
		},
		{
			name:      "turning on avoidBuggyIPs moves the Service holding a .0 address",
			pools:     []Pool{with2(poolA, func(p *Pool) { p.AvoidBuggyIPs = true }), poolB},
			wantMoved: []string{"default/zero"},
		},
		{
			name:  "a new pool that overlaps a pool in use is rejected and moves nobody",
			pools: []Pool{pool("new", "198.51.100.0/28"), poolA, poolB},
		},
		{
			name:  "an edit that makes a pool overlap another keeps the pool's previous version",
			pools: []Pool{with2(poolA, func(p *Pool) { p.Ranges = mustRanges("203.0.113.0/25", "198.51.100.0/28") }), poolB},
		},
		{
			name:  "an edit that makes a pool invalid keeps the pool's previous version",
			pools: []Pool{with2(poolA, func(p *Pool) { p.Ranges = nil }), poolB},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkSetPoolsMoves(t, []Pool{poolA, poolB}, services, tt.pools, tt.wantMoved)
		})
	}
}

// checkSetPoolsMoves assigns services on an allocator with pools, changes
// the pools to newPools and checks that exactly wantMoved lost their
// assignments, that the others kept theirs, and that Usage counts what is
// still held.
func checkSetPoolsMoves(t *testing.T, pools []Pool, services []Service, newPools []Pool, wantMoved []string) {
	t.Helper()
	a := newAllocatorWith(t, pools...)
	before := make(map[string]Assignment)
	for _, s := range services {
		before[s.Key] = mustAssign(t, a, s)
	}
	_, moved := a.SetPools(newPools)
	if !slices.Equal(moved, wantMoved) {
		t.Fatalf("moved = %v, want %v", moved, wantMoved)
	}
	for _, s := range services {
		got, ok := a.Assignment(s.Key)
		switch {
		case slices.Contains(wantMoved, s.Key) && ok:
			t.Errorf("moved Service %s still has %v", s.Key, got)
		case !slices.Contains(wantMoved, s.Key) && !ok:
			t.Errorf("Service %s lost its assignment", s.Key)
		case ok:
			checkAssignment(t, s.Key, got, before[s.Key].Pool, addrStrings(before[s.Key].Addrs))
		}
	}
	// The counters must match what is still held: count it by hand.
	for _, p := range newPools {
		want := map[Family]uint64{}
		for _, s := range services {
			if asg, ok := a.Assignment(s.Key); ok && asg.Pool == p.Name {
				for _, addr := range asg.Addrs {
					if s.Key != "default/sharer" { // shares with default/high
						want[FamilyOf(addr)]++
					}
				}
			}
		}
		for f, u := range a.Usage(p.Name) {
			if u.Assigned != want[f] {
				t.Errorf("Usage(%s)[%v].Assigned = %d, want %d", p.Name, f, u.Assigned, want[f])
			}
		}
	}
}

func TestSetPoolsEditKeepsFreeAndHeldAddressesStraight(t *testing.T) {
	t.Parallel()
	a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
	for _, name := range []string{"s0", "s1", "s2", "s3"} {
		mustAssign(t, a, svc(name))
	}
	a.Release("default/s1")
	// Adding a second range and changing an unrelated setting must neither
	// forget the released .1 nor hand out a held address.
	if _, moved := a.SetPools([]Pool{with2(pool("a", "203.0.113.0/24", "198.51.100.0/24"), func(p *Pool) { p.Priority = 3 })}); len(moved) > 0 {
		t.Fatalf("moved = %v", moved)
	}
	// IPv4 ranges are searched from the lowest address, so 198.51.100.0 comes first.
	checkAssignment(t, "first Assign after the edit", mustAssign(t, a, svc("n0")), "a", []string{"198.51.100.0"})
	if _, moved := a.SetPools([]Pool{pool("a", "203.0.113.0/24")}); !slices.Equal(moved, []string{"default/n0"}) {
		t.Fatalf("moved = %v, want [default/n0]", moved)
	}
	checkAssignment(t, "Assign after removing the new range", mustAssign(t, a, svc("n1")), "a", []string{"203.0.113.1"})
	checkAssignment(t, "next Assign", mustAssign(t, a, svc("n2")), "a", []string{"203.0.113.4"})
}

func TestUsage(t *testing.T) {
	t.Parallel()
	a := newAllocatorWith(t,
		with2(pool("a", "203.0.113.0/24", "2001:db8:100::/120"), func(p *Pool) { p.AvoidBuggyIPs = true }),
		pool("big", "2001:db8:200::/48"),
		pool("v4", "198.51.100.0/24"),
	)
	check := func(name, poolName string, want map[Family]FamilyUsage) {
		t.Run(name, func(t *testing.T) {
			got := a.Usage(poolName)
			if len(got) != len(want) {
				t.Fatalf("Usage(%q) = %v, want %v", poolName, got, want)
			}
			for f, w := range want {
				if got[f] != w {
					t.Errorf("Usage(%q)[%v] = %+v, want %+v", poolName, f, got[f], w)
				}
			}
		})
	}
	check("an empty pool has everything available except the avoided .0, .255 and IPv6 anycast", "a", map[Family]FamilyUsage{
		IPv4: {Assigned: 0, Available: 254},
		IPv6: {Assigned: 0, Available: 255},
	})
	check("a pool without IPv6 ranges reports only IPv4", "v4", map[Family]FamilyUsage{IPv4: {Available: 256}})
	check("a huge IPv6 pool saturates", "big", map[Family]FamilyUsage{IPv6: {Available: ^uint64(0)}})
	check("an unknown pool has no usage", "nope", nil)

	share := func(name string, port int32) Service {
		return with(svc(name), func(s *Service) {
			s.SharingKey, s.Ports, s.RequestedPool = "k", tcp(port), "a"
			s.Policy, s.Families = RequireDualStack, []Family{IPv4, IPv6}
		})
	}
	checkAssignment(t, "first sharer", mustAssign(t, a, share("one", 80)), "a", []string{"203.0.113.1", "2001:db8:100::1"})
	checkAssignment(t, "second sharer", mustAssign(t, a, share("two", 443)), "a", []string{"203.0.113.1", "2001:db8:100::1"})
	mustAssign(t, a, with(svc("solo"), func(s *Service) { s.RequestedPool = "a" }))
	mustAssign(t, a, with(svc("bigone"), func(s *Service) { s.Families, s.RequestedPool = []Family{IPv6}, "big" }))
	check("shared addresses count once", "a", map[Family]FamilyUsage{
		IPv4: {Assigned: 2, Available: 252},
		IPv6: {Assigned: 1, Available: 254},
	})
	check("a saturated pool stays saturated with one address assigned", "big", map[Family]FamilyUsage{IPv6: {Assigned: 1, Available: ^uint64(0)}})

	a.Release("default/one")
	check("an address stays assigned while one holder is left", "a", map[Family]FamilyUsage{
		IPv4: {Assigned: 2, Available: 252},
		IPv6: {Assigned: 1, Available: 254},
	})
	a.Release("default/two")
	check("an address is available again when its last holder leaves", "a", map[Family]FamilyUsage{
		IPv4: {Assigned: 1, Available: 253},
		IPv6: {Assigned: 0, Available: 255},
	})
}

func TestRelease(t *testing.T) {
	t.Parallel()
	t.Run("an address is freed only when its last holder releases it", func(t *testing.T) {
		a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
		sharer := func(name string, port int32) Service {
			return with(svc(name), func(s *Service) { s.SharingKey, s.Ports = "k", tcp(port) })
		}
		mustAssign(t, a, sharer("one", 80))
		mustAssign(t, a, sharer("two", 443))
		if !a.Release("default/one") {
			t.Fatal("Release(default/one) = false")
		}
		checkAssignment(t, "a new Service while .0 is still held", mustAssign(t, a, svc("three")), "a", []string{"203.0.113.1"})
		a.Release("default/two")
		checkAssignment(t, "a new Service after the last holder left", mustAssign(t, a, svc("four")), "a", []string{"203.0.113.0"})
	})
	t.Run("releasing an unknown Service reports false", func(t *testing.T) {
		a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
		if a.Release("default/ghost") {
			t.Error("Release(default/ghost) = true")
		}
	})
	t.Run("released addresses are handed out again lowest first", func(t *testing.T) {
		a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
		for _, name := range []string{"s0", "s1", "s2", "s3", "s4"} {
			mustAssign(t, a, svc(name))
		}
		a.Release("default/s3")
		a.Release("default/s1")
		var got []string
		for _, name := range []string{"n0", "n1", "n2"} {
			got = append(got, mustAssign(t, a, svc(name)).Addrs[0].String())
		}
		if want := []string{"203.0.113.1", "203.0.113.3", "203.0.113.5"}; !slices.Equal(got, want) {
			t.Errorf("addresses after releases = %v, want %v", got, want)
		}
	})
	t.Run("a released address that was requested again meanwhile is skipped", func(t *testing.T) {
		a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
		for _, name := range []string{"s0", "s1", "s2"} {
			mustAssign(t, a, svc(name))
		}
		a.Release("default/s1")
		mustAssign(t, a, with(svc("req"), func(s *Service) { s.RequestedAddrs = mustAddrs("203.0.113.1") }))
		checkAssignment(t, "next automatic Assign", mustAssign(t, a, svc("n0")), "a", []string{"203.0.113.3"})
		a.Release("default/req")
		checkAssignment(t, "Assign after the requester left", mustAssign(t, a, svc("n1")), "a", []string{"203.0.113.1"})
	})
	t.Run("an exhausted range finds a released address", func(t *testing.T) {
		a := newAllocatorWith(t, pool("a", "203.0.113.0/30"))
		for _, name := range []string{"s0", "s1", "s2", "s3"} {
			mustAssign(t, a, svc(name))
		}
		if _, err := a.Assign(svc("full")); !strings.Contains(errString(err), "no free IPv4 address") {
			t.Fatalf("Assign on a full pool: %v", err)
		}
		a.Release("default/s2")
		checkAssignment(t, "Assign after a release", mustAssign(t, a, svc("n0")), "a", []string{"203.0.113.2"})
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
