package ipam

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"testing"
)

// TestSequence runs one allocator through a story. Each step depends on the
// ones before it, which is the point: it checks that state carries over
// correctly between operations.
func TestSequence(t *testing.T) {
	t.Parallel()
	main := with2(pool("main", "203.0.113.0/29", "2001:db8:100::/126"), func(p *Pool) { p.Priority = 1 })
	spare := with2(pool("spare", "198.51.100.0/30"), func(p *Pool) { p.Priority = 2 })
	shop := func(name string, port int32) Service {
		return with(svc(name), func(s *Service) { s.SharingKey, s.Ports = "shop", tcp(port) })
	}
	dualSvc := func(policy FamilyPolicy) Service {
		return with(svc("dual"), func(s *Service) { s.Policy, s.Families = policy, []Family{IPv4, IPv6} })
	}
	type usage = map[Family]FamilyUsage

	steps := []struct {
		name string
		// Exactly one operation.
		assign  *Service
		release string
		pools   []Pool
		// Expectations.
		wantPool     string
		wantAddrs    []string
		wantErr      string
		wantKind     error
		wantReleased bool
		wantMoved    []string
		wantMain     usage // Usage("main") after the step, if set
	}{
		{name: "web gets the first address", assign: ptr(shop("web", 80)), wantPool: "main", wantAddrs: []string{"203.0.113.0"}},
		{name: "api shares web's address under the same key", assign: ptr(shop("api", 443)), wantPool: "main", wantAddrs: []string{"203.0.113.0"},
			wantMain: usage{IPv4: {1, 7}, IPv6: {0, 3}}},
		{name: "metrics clashes with web on port 80 and gets its own address", assign: ptr(shop("metrics", 80)), wantPool: "main", wantAddrs: []string{"203.0.113.1"}},
		{name: "db asks for the shared address without a key and is refused",
			assign:  ptr(with(svc("db"), func(s *Service) { s.RequestedAddrs = mustAddrs("203.0.113.0") })),
			wantErr: `address "203.0.113.0" is already used by default/web (and default/db has no sharing key)`, wantKind: ErrInUse},
		{name: "db takes the next free address instead", assign: ptr(svc("db")), wantPool: "main", wantAddrs: []string{"203.0.113.2"}},
		{name: "web leaves while api still holds the shared address", release: "default/web", wantReleased: true,
			wantMain: usage{IPv4: {3, 5}, IPv6: {0, 3}}},
		{name: "a new Service does not get the address api still holds", assign: ptr(svc("cache")), wantPool: "main", wantAddrs: []string{"203.0.113.3"}},
		{name: "api leaves and the shared address is free", release: "default/api", wantReleased: true,
			wantMain: usage{IPv4: {3, 5}, IPv6: {0, 3}}},
		{name: "the freed address is handed out first", assign: ptr(svc("queue")), wantPool: "main", wantAddrs: []string{"203.0.113.0"}},
		{name: "releasing an unknown Service does nothing", release: "default/ghost", wantReleased: false},
		{name: "a dual-stack Service gets both families from main", assign: ptr(dualSvc(RequireDualStack)), wantPool: "main", wantAddrs: []string{"203.0.113.4", "2001:db8:100::1"},
			wantMain: usage{IPv4: {5, 3}, IPv6: {1, 2}}},
		{name: "shrinking main moves exactly the Service outside it",
			pools: []Pool{with2(main, func(p *Pool) { p.Ranges = mustRanges("203.0.113.0/30", "2001:db8:100::/126") }), spare}, wantMoved: []string{"default/dual"},
			wantMain: usage{IPv4: {4, 0}, IPv6: {0, 3}}},
		{name: "the moved Service cannot get both families now", assign: ptr(dualSvc(RequireDualStack)),
			wantErr: `no free IPv4 address in pool "main"`, wantKind: ErrExhausted},
		{name: "as PreferDualStack it falls back to IPv4 in the spare pool", assign: ptr(dualSvc(PreferDualStack)), wantPool: "spare", wantAddrs: []string{"198.51.100.0"}},
		{name: "growing main again moves nobody", pools: []Pool{main, spare},
			wantMain: usage{IPv4: {4, 4}, IPv6: {0, 3}}},
		{name: "the PreferDualStack Service stays in the spare pool", assign: ptr(dualSvc(PreferDualStack)), wantPool: "spare", wantAddrs: []string{"198.51.100.0"}},
		{name: "metrics asks for an address in the spare pool and leaves main",
			assign: ptr(with(shop("metrics", 80), func(s *Service) { s.RequestedAddrs = mustAddrs("198.51.100.3") })), wantPool: "spare", wantAddrs: []string{"198.51.100.3"},
			wantMain: usage{IPv4: {3, 5}, IPv6: {0, 3}}},
		{name: "the address metrics left is handed out next", assign: ptr(svc("next")), wantPool: "main", wantAddrs: []string{"203.0.113.1"}},
		{name: "a request for an address in use by another key is refused and changes nothing",
			assign:  ptr(with(svc("next"), func(s *Service) { s.RequestedAddrs, s.SharingKey = mustAddrs("198.51.100.3"), "other" })),
			wantErr: `address "198.51.100.3" is already used by default/metrics (sharing key "shop" differs from "other")`, wantKind: ErrInUse,
			wantMain: usage{IPv4: {4, 4}, IPv6: {0, 3}}},
		{name: "removing the spare pool moves its Services", pools: []Pool{main}, wantMoved: []string{"default/dual", "default/metrics"}},
		{name: "the moved PreferDualStack Service now gets both families in main", assign: ptr(dualSvc(PreferDualStack)), wantPool: "main", wantAddrs: []string{"203.0.113.4", "2001:db8:100::1"},
			wantMain: usage{IPv4: {5, 3}, IPv6: {1, 2}}},
	}

	a := NewAllocator()
	if rejected, _ := a.SetPools([]Pool{main, spare}); len(rejected) > 0 {
		t.Fatalf("rejected: %v", rejected)
	}
	for i, st := range steps {
		if t.Failed() {
			t.Fatalf("stopping before step %d (%s): an earlier step failed", i, st.name)
		}
		t.Run(st.name, func(t *testing.T) {
			switch {
			case st.assign != nil:
				before, hadBefore := a.Assignment(st.assign.Key)
				got, err := a.Assign(*st.assign)
				checkError(t, err, st.wantErr, st.wantKind)
				if err != nil {
					after, hasAfter := a.Assignment(st.assign.Key)
					if hasAfter != hadBefore || after.Pool != before.Pool || !slices.Equal(after.Addrs, before.Addrs) {
						t.Errorf("a failed Assign changed the assignment from %v to %v", before, after)
					}
				} else {
					checkAssignment(t, "Assign", got, st.wantPool, st.wantAddrs)
				}
			case st.release != "":
				if got := a.Release(st.release); got != st.wantReleased {
					t.Errorf("Release(%s) = %v, want %v", st.release, got, st.wantReleased)
				}
			case st.pools != nil:
				rejected, moved := a.SetPools(st.pools)
				if len(rejected) > 0 {
					t.Errorf("rejected: %v", rejected)
				}
				if !slices.Equal(moved, st.wantMoved) {
					t.Errorf("moved = %v, want %v", moved, st.wantMoved)
				}
			default:
				t.Fatal("step has no operation")
			}
			if st.wantMain != nil {
				got := a.Usage("main")
				for _, f := range families {
					if got[f] != st.wantMain[f] {
						t.Errorf("Usage(main)[%v] = %+v, want %+v", f, got[f], st.wantMain[f])
					}
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestRandomOperationsMatchModel drives the allocator with random
// operations and compares every result with a brute-force model: automatic
// assignment must give the lowest free usable address, requests must succeed
// exactly when the address is free, pool edits must move exactly the
// Services outside the new ranges, and Usage must match the model's count.
// The seed is fixed so a failure can be reproduced.
func TestRandomOperationsMatchModel(t *testing.T) {
	t.Parallel()
	t.Run("IPv4 with avoidBuggyIPs", func(t *testing.T) {
		avoid := func(p Pool) Pool { return with2(p, func(p *Pool) { p.AvoidBuggyIPs = true }) }
		usable := func(x netip.Addr, _ Range) bool { b := x.As4(); return b[3] != 0 && b[3] != 255 }
		checkRandomOperations(t, avoid(pool("p", "203.0.113.250-203.0.114.5", "203.0.113.0/28")), avoid(pool("p", "203.0.113.0/28")), IPv4, usable)
	})
	t.Run("IPv6 without subnet-router anycast addresses", func(t *testing.T) {
		// The model names the network address of the /124 rather than
		// asking the allocator's code which ranges are prefixes.
		usable := func(x netip.Addr, r Range) bool {
			b := x.As16()
			anycast := binary.BigEndian.Uint64(b[8:]) == 0 || x == mustAddr("2001:db8:200::10")
			return !anycast || r.First() == r.Last()
		}
		full := pool("p", "2001:db8:100:0:ffff:ffff:ffff:fff8-2001:db8:100:1::8", "2001:db8:200::10/124", "2001:db8:300::/128")
		checkRandomOperations(t, full, pool("p", "2001:db8:200::10/124"), IPv6, usable)
	})
}

// checkRandomOperations runs TestRandomOperationsMatchModel on a pool that
// switches between full and shrunk, whose ranges are of family f, and whose
// usable addresses usable tells.
func checkRandomOperations(t *testing.T, full, shrunk Pool, f Family, usableIn func(netip.Addr, Range) bool) {
	usable := func(p Pool) []netip.Addr {
		var out []netip.Addr
		for _, r := range p.Ranges {
			for x := r.First(); x.IsValid() && r.Contains(x); x = x.Next() {
				if usableIn(x, r) {
					out = append(out, x)
				}
			}
		}
		slices.SortFunc(out, netip.Addr.Compare)
		return out
	}

	for seed := uint64(1); seed <= 20; seed++ {
		t.Run("seed "+strconv.FormatUint(seed, 10), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			a := newAllocatorWith(t, full)
			current := full
			held := map[netip.Addr]string{} // the model: address → Service key
			next := 0
			for op := 0; op < 2000; op++ {
				candidates := usable(current)
				switch n := rng.IntN(100); {
				case n < 45: // automatic assignment
					key := "default/s" + strconv.Itoa(next)
					next++
					var want netip.Addr
					for _, x := range candidates {
						if _, taken := held[x]; !taken {
							want = x
							break
						}
					}
					got, err := a.Assign(Service{Key: key, Families: []Family{f}})
					if !want.IsValid() {
						if !errors.Is(err, ErrExhausted) {
							t.Fatalf("op %d: Assign on a full pool = %v, %v; want ErrExhausted", op, got, err)
						}
						continue
					}
					if err != nil || len(got.Addrs) != 1 || got.Addrs[0] != want {
						t.Fatalf("op %d: Assign = %v, %v; want %v", op, got, err, want)
					}
					held[want] = key
				case n < 60: // requested address
					x := candidates[rng.IntN(len(candidates))]
					key := "default/s" + strconv.Itoa(next)
					next++
					_, err := a.Assign(Service{Key: key, Families: []Family{f}, RequestedAddrs: []netip.Addr{x}})
					if _, taken := held[x]; taken != (err != nil) {
						t.Fatalf("op %d: requesting %v (held: %v) gave error %v", op, x, taken, err)
					}
					if err == nil {
						held[x] = key
					}
				case n < 95: // release
					if len(held) == 0 {
						continue
					}
					keys := make([]netip.Addr, 0, len(held))
					for x := range held {
						keys = append(keys, x)
					}
					slices.SortFunc(keys, netip.Addr.Compare)
					x := keys[rng.IntN(len(keys))]
					if !a.Release(held[x]) {
						t.Fatalf("op %d: Release(%s) = false", op, held[x])
					}
					delete(held, x)
				default: // toggle the second range
					target := full
					if len(current.Ranges) == len(full.Ranges) {
						target = shrunk
					}
					_, moved := a.SetPools([]Pool{target})
					var wantMoved []string
					for x, key := range held {
						if !slices.ContainsFunc(target.Ranges, func(r Range) bool { return r.Contains(x) }) {
							wantMoved = append(wantMoved, key)
							delete(held, x)
						}
					}
					slices.Sort(wantMoved)
					if !slices.Equal(moved, wantMoved) {
						t.Fatalf("op %d: moved = %v, want %v", op, moved, wantMoved)
					}
					current = target
				}
				u := a.Usage("p")[f]
				if want := uint64(len(held)); u.Assigned != want || u.Available != uint64(len(usable(current)))-want {
					t.Fatalf("op %d: Usage = %+v, want %d assigned of %d", op, u, want, len(usable(current)))
				}
			}
		})
	}
}
