package ipam

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

// adoption is a Service and the addresses it has.
type adoption struct {
	svc   Service
	addrs []string
}

// adoptCase adopts before in order, each of which must succeed, then adopt.
type adoptCase struct {
	name      string
	before    []adoption
	adopt     adoption
	wantPool  string
	wantAddrs []string
	wantErr   string
	wantKind  error
}

// adoptionPools are a dual-stack pool that avoids .0 and .255, a pool that
// does not assign automatically, and a pool only namespace team may use.
func adoptionPools() []Pool {
	return []Pool{
		{Name: "a", Ranges: mustRanges("203.0.113.0/24", "2001:db8:100::/64"), AutoAssign: true, AvoidBuggyIPs: true},
		{Name: "manual", Ranges: mustRanges("198.51.100.0/25")},
		with2(pool("team", "198.51.100.128/25"), func(p *Pool) { p.Namespaces = []string{"team"} }),
	}
}

// adoptSharer returns a Service with a sharing key and one TCP port.
func adoptSharer(name, key string, port int32) Service {
	return with(svc(name), func(s *Service) { s.SharingKey, s.Ports = key, tcp(port) })
}

// runAdoptCases runs each case on an allocator of its own. A refused
// adoption must record nothing and leave the counters as they were.
func runAdoptCases(t *testing.T, tests []adoptCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAllocatorWith(t, adoptionPools()...)
			for _, b := range tt.before {
				if _, err := a.Adopt(b.svc, mustAddrs(b.addrs...)); err != nil {
					t.Fatalf("Adopt(%s): %v", b.svc.Key, err)
				}
			}
			usageBefore := a.Usage("a")
			got, err := a.Adopt(tt.adopt.svc, mustAddrs(tt.adopt.addrs...))
			checkError(t, err, tt.wantErr, tt.wantKind)
			if tt.wantErr != "" {
				if asg, ok := a.Assignment(tt.adopt.svc.Key); ok {
					t.Errorf("a refused adoption recorded %v", asg)
				}
				if usage := a.Usage("a"); usage[IPv4] != usageBefore[IPv4] || usage[IPv6] != usageBefore[IPv6] {
					t.Errorf("a refused adoption changed usage from %v to %v", usageBefore, usage)
				}
				return
			}
			checkAssignment(t, "Adopt", got, tt.wantPool, tt.wantAddrs)
			stored, _ := a.Assignment(tt.adopt.svc.Key)
			checkAssignment(t, "Assignment", stored, tt.wantPool, tt.wantAddrs)
		})
	}
}

// An address in a pool the Service may use is adopted, whatever the pool's
// AutoAssign and the Service's requests, in family order.
func TestAdoptKeepsWhatAServiceHas(t *testing.T) {
	t.Parallel()
	runAdoptCases(t, []adoptCase{
		{
			name:     "an address in a pool the Service may use is adopted",
			adopt:    adoption{svc("web"), []string{"203.0.113.9"}},
			wantPool: "a", wantAddrs: []string{"203.0.113.9"},
		},
		{
			name:     "an address in a pool that does not assign automatically is adopted",
			adopt:    adoption{svc("web"), []string{"198.51.100.9"}},
			wantPool: "manual", wantAddrs: []string{"198.51.100.9"},
		},
		{
			name:     "the requested pool and addresses do not matter for adoption",
			adopt:    adoption{with(svc("web"), func(s *Service) { s.RequestedPool, s.RequestedAddrs = "a", mustAddrs("203.0.113.1") }), []string{"198.51.100.9"}},
			wantPool: "manual", wantAddrs: []string{"198.51.100.9"},
		},
		{
			name:     "dual-stack addresses are adopted in family order",
			adopt:    adoption{dualStack(svc("web"), RequireDualStack), []string{"2001:db8:100::9", "203.0.113.9"}},
			wantPool: "a", wantAddrs: []string{"203.0.113.9", "2001:db8:100::9"},
		},
		{
			name:     "a PreferDualStack Service with only its primary address is adopted",
			adopt:    adoption{dualStack(svc("web"), PreferDualStack), []string{"203.0.113.9"}},
			wantPool: "a", wantAddrs: []string{"203.0.113.9"},
		},
		{
			name:     "a Service without families is adopted with the families of its addresses",
			adopt:    adoption{Service{Key: "default/web"}, []string{"2001:db8:100::9"}},
			wantPool: "a", wantAddrs: []string{"2001:db8:100::9"},
		},
	})
}

// Adopt refuses addresses outside the pools the Service may use, addresses
// that do not fit its families, and avoided addresses, and records nothing.
func TestAdoptRefusesWhatAServiceMayNotHave(t *testing.T) {
	t.Parallel()
	runAdoptCases(t, []adoptCase{
		{
			name:    "an address outside every pool is not adopted",
			adopt:   adoption{svc("web"), []string{"198.18.0.1"}},
			wantErr: `address "198.18.0.1" is not in any pool`, wantKind: ErrNoPool,
		},
		{
			name:    "an address in a pool that does not allow the namespace is not adopted",
			adopt:   adoption{svc("web"), []string{"198.51.100.200"}},
			wantErr: `pool "team" does not allow namespace "default"`, wantKind: ErrNotAllowed,
		},
		{
			name:    "an address of a family the Service does not use is not adopted",
			adopt:   adoption{svc("web"), []string{"2001:db8:100::9"}},
			wantErr: `address "2001:db8:100::9" is IPv6, but the Service's IP families are [IPv4]`, wantKind: ErrInvalidService,
		},
		{
			name:    "a RequireDualStack Service with one address is not adopted",
			adopt:   adoption{dualStack(svc("web"), RequireDualStack), []string{"203.0.113.9"}},
			wantErr: "needs an IPv6 address, but none was given", wantKind: ErrInvalidService,
		},
		{
			name:    "two addresses of one family are not adopted",
			adopt:   adoption{svc("web"), []string{"203.0.113.9", "198.51.100.9"}},
			wantErr: `two addresses are IPv4`, wantKind: ErrInvalidService,
		},
		{
			name:    "dual-stack addresses in two pools are not adopted",
			adopt:   adoption{with(dualStack(svc("web"), RequireDualStack), func(s *Service) { s.Namespace = "team" }), []string{"198.51.100.200", "2001:db8:100::9"}},
			wantErr: `addresses "198.51.100.200" and "2001:db8:100::9" are in different pools ("team" and "a")`, wantKind: ErrNotAllowed,
		},
		{
			name:    "a .255 address in a pool that avoids it is not adopted",
			adopt:   adoption{svc("web"), []string{"203.0.113.255"}},
			wantErr: `address "203.0.113.255" ends in .0 or .255, which pool "a" avoids`, wantKind: ErrNotAllowed,
		},
		{
			name:    "no addresses are not adopted",
			adopt:   adoption{svc("web"), nil},
			wantErr: "service default/web: no address given", wantKind: ErrInvalidService,
		},
	})
}

// An address adopted before is shared only under the sharing rules.
func TestAdoptSharesByTheSharingRules(t *testing.T) {
	t.Parallel()
	runAdoptCases(t, []adoptCase{
		{
			name:     "an address adopted before by a Service with the same key and other ports is shared",
			before:   []adoption{{adoptSharer("one", "k", 80), []string{"203.0.113.9"}}},
			adopt:    adoption{adoptSharer("web", "k", 443), []string{"203.0.113.9"}},
			wantPool: "a", wantAddrs: []string{"203.0.113.9"},
		},
		{
			name:    "an address adopted before by a Service with another key is not adopted",
			before:  []adoption{{adoptSharer("one", "k", 80), []string{"203.0.113.9"}}},
			adopt:   adoption{adoptSharer("web", "j", 443), []string{"203.0.113.9"}},
			wantErr: `address "203.0.113.9" is already used by default/one (sharing key "k" differs from "j")`, wantKind: ErrInUse,
		},
		{
			name:    "an address adopted before with a clashing port is not adopted",
			before:  []adoption{{adoptSharer("one", "k", 80), []string{"203.0.113.9"}}},
			adopt:   adoption{adoptSharer("web", "k", 80), []string{"203.0.113.9"}},
			wantErr: `port TCP/80 clashes with default/one`, wantKind: ErrInUse,
		},
	})
}

func TestAdoptedAddressesAreNotHandedOutAgain(t *testing.T) {
	t.Parallel()
	a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
	for name, addr := range map[string]string{"old0": "203.0.113.0", "old2": "203.0.113.2"} {
		if _, err := a.Adopt(svc(name), mustAddrs(addr)); err != nil {
			t.Fatalf("Adopt(%s): %v", name, err)
		}
	}
	var got []string
	for _, name := range []string{"n0", "n1", "n2"} {
		got = append(got, mustAssign(t, a, svc(name)).Addrs[0].String())
	}
	if want := []string{"203.0.113.1", "203.0.113.3", "203.0.113.4"}; !slices.Equal(got, want) {
		t.Errorf("new addresses = %v, want %v", got, want)
	}
	if u := a.Usage("a")[IPv4]; u.Assigned != 5 {
		t.Errorf("Assigned = %d, want 5", u.Assigned)
	}
	t.Run("adopting again for the same key replaces the old address", func(t *testing.T) {
		if _, err := a.Adopt(svc("old0"), mustAddrs("203.0.113.9")); err != nil {
			t.Fatal(err)
		}
		checkAssignment(t, "next Assign", mustAssign(t, a, svc("n3")), "a", []string{"203.0.113.0"})
	})
}

// TestAssignLifecycle runs small stories on one allocator each: what Assign
// keeps, what it changes, and that a failed Assign loses nothing.// Assigning a Service again returns what it holds, as a copy, and takes
// nothing more.
func TestAssignAgain(t *testing.T) {
	t.Parallel()
	t.Run("assigning the same Service twice returns the same assignment and takes nothing more", func(t *testing.T) {
		t.Parallel()
		a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
		first := mustAssign(t, a, svc("web"))
		again := mustAssign(t, a, with(svc("web"), func(s *Service) { s.Labels = map[string]string{"new": "label"} }))
		checkAssignment(t, "second Assign", again, first.Pool, addrStrings(first.Addrs))
		if u := a.Usage("a")[IPv4]; u.Assigned != 1 {
			t.Errorf("Assigned = %d, want 1", u.Assigned)
		}
		checkAssignment(t, "another Service", mustAssign(t, a, svc("db")), "a", []string{"203.0.113.1"})
	})
	t.Run("the returned assignment is a copy the caller may change", func(t *testing.T) {
		t.Parallel()
		a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
		got := mustAssign(t, a, svc("web"))
		got.Addrs[0] = mustAddr("198.18.0.1")
		stored, _ := a.Assignment("default/web")
		checkAssignment(t, "stored", stored, "a", []string{"203.0.113.0"})
	})
	t.Run("an adopted address in a pool that does not assign automatically is kept", func(t *testing.T) {
		t.Parallel()
		a := newAllocatorWith(t, pool("auto", "203.0.113.0/24"), Pool{Name: "manual", Ranges: mustRanges("198.51.100.0/24")})
		if _, err := a.Adopt(svc("web"), mustAddrs("198.51.100.77")); err != nil {
			t.Fatal(err)
		}
		checkAssignment(t, "Assign", mustAssign(t, a, svc("web")), "manual", []string{"198.51.100.77"})
	})
}

// A changed request replaces the old assignment and frees it; a failed one
// keeps it.
func TestAssignChangesOrKeeps(t *testing.T) {
	t.Parallel()
	t.Run("requesting a new address replaces the old one and frees it", func(t *testing.T) {
		t.Parallel()
		a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
		mustAssign(t, a, svc("web"))
		got := mustAssign(t, a, with(svc("web"), func(s *Service) { s.RequestedAddrs = mustAddrs("203.0.113.9") }))
		checkAssignment(t, "Assign with a request", got, "a", []string{"203.0.113.9"})
		if u := a.Usage("a")[IPv4]; u.Assigned != 1 {
			t.Errorf("Assigned = %d, want 1", u.Assigned)
		}
		checkAssignment(t, "another Service", mustAssign(t, a, svc("db")), "a", []string{"203.0.113.0"})
	})
	t.Run("a failed Assign keeps the previous assignment", func(t *testing.T) {
		t.Parallel()
		a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
		mustAssign(t, a, svc("web"))
		_, err := a.Assign(with(svc("web"), func(s *Service) { s.RequestedAddrs = mustAddrs("198.18.0.1") }))
		checkError(t, err, `address "198.18.0.1" is not in any pool`, ErrNoPool)
		stored, ok := a.Assignment("default/web")
		if !ok {
			t.Fatal("the failed Assign dropped the assignment")
		}
		checkAssignment(t, "kept", stored, "a", []string{"203.0.113.0"})
		if u := a.Usage("a")[IPv4]; u.Assigned != 1 {
			t.Errorf("Assigned = %d, want 1", u.Assigned)
		}
		checkAssignment(t, "another Service", mustAssign(t, a, svc("db")), "a", []string{"203.0.113.1"})
	})
	t.Run("moving to an exhausted pool keeps the previous assignment and reports exhaustion", func(t *testing.T) {
		t.Parallel()
		a := newAllocatorWith(t, pool("a", "203.0.113.0/24"), pool("b", "198.51.100.1/32"))
		mustAssign(t, a, with(svc("blocker"), func(s *Service) { s.RequestedPool = "b" }))
		mustAssign(t, a, svc("web"))
		_, err := a.Assign(with(svc("web"), func(s *Service) { s.RequestedPool = "b" }))
		checkError(t, err, `no free IPv4 address in pool "b"`, ErrExhausted)
		stored, _ := a.Assignment("default/web")
		checkAssignment(t, "kept", stored, "a", []string{"203.0.113.0"})
	})
}

// A Service whose ports or sharing key change keeps or leaves a shared
// address by the sharing rules.
func TestAssignFollowsSharingChanges(t *testing.T) {
	t.Parallel()
	t.Run("a port change that clashes with a sharer moves the Service to a new address", func(t *testing.T) {
		t.Parallel()
		a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
		sharer := func(name string, port int32) Service {
			return with(svc(name), func(s *Service) { s.SharingKey, s.Ports = "k", tcp(port) })
		}
		mustAssign(t, a, sharer("one", 80))
		checkAssignment(t, "sharing", mustAssign(t, a, sharer("two", 443)), "a", []string{"203.0.113.0"})
		checkAssignment(t, "after the clash", mustAssign(t, a, sharer("two", 80)), "a", []string{"203.0.113.1"})
		one, _ := a.Assignment("default/one")
		checkAssignment(t, "the other sharer", one, "a", []string{"203.0.113.0"})
		if u := a.Usage("a")[IPv4]; u.Assigned != 2 {
			t.Errorf("Assigned = %d, want 2", u.Assigned)
		}
	})
	t.Run("a port change that still fits keeps the shared address and is remembered", func(t *testing.T) {
		t.Parallel()
		a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
		sharer := func(name string, port int32) Service {
			return with(svc(name), func(s *Service) { s.SharingKey, s.Ports = "k", tcp(port) })
		}
		mustAssign(t, a, sharer("one", 80))
		mustAssign(t, a, sharer("two", 443))
		checkAssignment(t, "two moves to port 8443", mustAssign(t, a, sharer("two", 8443)), "a", []string{"203.0.113.0"})
		_, err := a.Assign(with(sharer("three", 8443), func(s *Service) { s.RequestedAddrs = mustAddrs("203.0.113.0") }))
		checkError(t, err, "port TCP/8443 clashes with default/two", ErrInUse)
	})
	t.Run("dropping the sharing key moves a Service off the shared address", func(t *testing.T) {
		t.Parallel()
		a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
		mustAssign(t, a, with(svc("one"), func(s *Service) { s.SharingKey, s.Ports = "k", tcp(80) }))
		mustAssign(t, a, with(svc("two"), func(s *Service) { s.SharingKey, s.Ports = "k", tcp(443) }))
		checkAssignment(t, "without key", mustAssign(t, a, with(svc("two"), func(s *Service) { s.Ports = tcp(443) })), "a", []string{"203.0.113.1"})
	})
	t.Run("changing the sharing key of an unshared address keeps it and shares under the new key", func(t *testing.T) {
		t.Parallel()
		a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
		mustAssign(t, a, with(svc("one"), func(s *Service) { s.SharingKey, s.Ports = "old", tcp(80) }))
		checkAssignment(t, "new key", mustAssign(t, a, with(svc("one"), func(s *Service) { s.SharingKey, s.Ports = "new", tcp(80) })), "a", []string{"203.0.113.0"})
		checkAssignment(t, "old key", mustAssign(t, a, with(svc("two"), func(s *Service) { s.SharingKey, s.Ports = "old", tcp(443) })), "a", []string{"203.0.113.1"})
		checkAssignment(t, "new key", mustAssign(t, a, with(svc("three"), func(s *Service) { s.SharingKey, s.Ports = "new", tcp(443) })), "a", []string{"203.0.113.0"})
	})
}

// A Service gains a family it newly wants, in its own pool.
func TestAssignFollowsFamilyChanges(t *testing.T) {
	t.Parallel()
	t.Run("a SingleStack Service that becomes dual-stack keeps its address and gains the other family", func(t *testing.T) {
		t.Parallel()
		a := newAllocatorWith(t, Pool{Name: "dual", Ranges: mustRanges("203.0.113.0/24", "2001:db8:100::/64"), AutoAssign: true})
		mustAssign(t, a, svc("other"))
		mustAssign(t, a, svc("web"))
		got := mustAssign(t, a, with(svc("web"), func(s *Service) { s.Policy, s.Families = RequireDualStack, []Family{IPv4, IPv6} }))
		checkAssignment(t, "dual-stack", got, "dual", []string{"203.0.113.1", "2001:db8:100::1"})
		got = mustAssign(t, a, svc("web"))
		checkAssignment(t, "single-stack again", got, "dual", []string{"203.0.113.1"})
		if u := a.Usage("dual")[IPv6]; u.Assigned != 0 {
			t.Errorf("IPv6 Assigned = %d, want 0", u.Assigned)
		}
	})
	t.Run("a PreferDualStack Service gains the second family when its pool gets one", func(t *testing.T) {
		t.Parallel()
		a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
		prefer := with(svc("web"), func(s *Service) { s.Policy, s.Families = PreferDualStack, []Family{IPv4, IPv6} })
		checkAssignment(t, "IPv4 only", mustAssign(t, a, prefer), "a", []string{"203.0.113.0"})
		checkAssignment(t, "still IPv4 only", mustAssign(t, a, prefer), "a", []string{"203.0.113.0"})
		if _, moved := a.SetPools([]Pool{pool("a", "203.0.113.0/24", "2001:db8:100::/64")}); len(moved) > 0 {
			t.Fatalf("moved = %v", moved)
		}
		checkAssignment(t, "dual-stack", mustAssign(t, a, prefer), "a", []string{"203.0.113.0", "2001:db8:100::1"})
	})
	t.Run("a PreferDualStack Service does not change pools to gain the second family", func(t *testing.T) {
		t.Parallel()
		a := newAllocatorWith(t,
			with2(pool("v4", "198.51.100.0/24"), func(p *Pool) { p.Priority = 1 }),
			with2(pool("dual", "203.0.113.0/24", "2001:db8:100::/128"), func(p *Pool) { p.Priority = 2 }),
		)
		mustAssign(t, a, with(svc("blocker"), func(s *Service) { s.Families = []Family{IPv6} }))
		prefer := with(svc("web"), func(s *Service) { s.Policy, s.Families = PreferDualStack, []Family{IPv4, IPv6} })
		checkAssignment(t, "while IPv6 is exhausted", mustAssign(t, a, prefer), "v4", []string{"198.51.100.0"})
		a.Release("default/blocker")
		checkAssignment(t, "after IPv6 is free again", mustAssign(t, a, prefer), "v4", []string{"198.51.100.0"})
		checkAssignment(t, "a new PreferDualStack Service", mustAssign(t, a, with(prefer, func(s *Service) { s.Key = "default/new" })), "dual", []string{"203.0.113.0", "2001:db8:100::"})
	})
}

// A Service follows changes to the pools it may use.
func TestAssignFollowsPoolChanges(t *testing.T) {
	t.Parallel()
	t.Run("a Service whose namespace the pool no longer allows moves to another pool", func(t *testing.T) {
		t.Parallel()
		gold := with2(pool("gold", "203.0.113.0/24"), func(p *Pool) { p.Priority = 1 })
		silver := pool("silver", "198.51.100.0/24")
		a := newAllocatorWith(t, gold, silver)
		checkAssignment(t, "before", mustAssign(t, a, svc("web")), "gold", []string{"203.0.113.0"})
		if _, moved := a.SetPools([]Pool{with2(gold, func(p *Pool) { p.Namespaces = []string{"other"} }), silver}); len(moved) > 0 {
			t.Fatalf("moved = %v; SetPools moves only Services whose addresses left their pool", moved)
		}
		checkAssignment(t, "after", mustAssign(t, a, svc("web")), "silver", []string{"198.51.100.0"})
		if u := a.Usage("gold")[IPv4]; u.Assigned != 0 {
			t.Errorf("gold Assigned = %d, want 0", u.Assigned)
		}
	})
	t.Run("a Service that stops asking for a non-automatic pool keeps its address there", func(t *testing.T) {
		t.Parallel()
		a := newAllocatorWith(t, pool("auto", "203.0.113.0/24"), Pool{Name: "manual", Ranges: mustRanges("198.51.100.0/24")})
		asking := with(svc("web"), func(s *Service) { s.RequestedPool = "manual" })
		checkAssignment(t, "asking", mustAssign(t, a, asking), "manual", []string{"198.51.100.0"})
		checkAssignment(t, "no longer asking", mustAssign(t, a, svc("web")), "manual", []string{"198.51.100.0"})
	})
	t.Run("a Service moved by a pool change gets a new address from Assign", func(t *testing.T) {
		t.Parallel()
		a := newAllocatorWith(t, pool("a", "203.0.113.0/24"), pool("b", "198.51.100.0/24"))
		mustAssign(t, a, svc("web"))
		_, moved := a.SetPools([]Pool{pool("b", "198.51.100.0/24")})
		if !slices.Equal(moved, []string{"default/web"}) {
			t.Fatalf("moved = %v", moved)
		}
		checkAssignment(t, "re-assigned", mustAssign(t, a, svc("web")), "b", []string{"198.51.100.0"})
	})
}

// The zero Allocator works, and values the caller changes afterwards do not
// reach it.
func TestAllocatorKeepsItsOwnCopies(t *testing.T) {
	t.Parallel()
	t.Run("the zero Allocator is usable", func(t *testing.T) {
		t.Parallel()
		var a Allocator
		if _, ok := a.Assignment("default/web"); ok || a.Release("default/web") || a.Usage("a") != nil {
			t.Fatal("the zero Allocator is not empty")
		}
		_, err := a.Assign(svc("web"))
		if !errors.Is(err, ErrNoPool) {
			t.Fatalf("Assign on the zero Allocator: %v, want ErrNoPool", err)
		}
		a.SetPools([]Pool{pool("a", "203.0.113.0/24")})
		checkAssignment(t, "Assign", mustAssign(t, &a, svc("web")), "a", []string{"203.0.113.0"})
	})
	t.Run("changing a Pool after SetPools does not change the allocator", func(t *testing.T) {
		t.Parallel()
		p := pool("a", "203.0.113.0/24")
		p.Namespaces = []string{"default"}
		a := newAllocatorWith(t, p)
		p.Namespaces[0] = "other"
		p.Ranges[0] = mustRange("198.51.100.0/24")
		checkAssignment(t, "Assign", mustAssign(t, a, svc("web")), "a", []string{"203.0.113.0"})
	})
	t.Run("changing requested addresses after Assign does not change the allocator", func(t *testing.T) {
		t.Parallel()
		a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
		s := with(svc("web"), func(s *Service) { s.RequestedAddrs = []netip.Addr{mustAddr("203.0.113.5")}; s.Ports = tcp(80) })
		mustAssign(t, a, s)
		s.RequestedAddrs[0] = mustAddr("203.0.113.6")
		s.Ports[0].Port = 81
		stored, _ := a.Assignment("default/web")
		checkAssignment(t, "stored", stored, "a", []string{"203.0.113.5"})
	})
}
