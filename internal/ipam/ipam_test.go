package ipam

import (
	"testing"
)

// with returns s changed by f, so table entries can be written as small
// edits of a base Service.
func with(s Service, f func(*Service)) Service {
	f(&s)
	return s
}

// assignCase is one Assign on a fresh allocator.
type assignCase struct {
	name      string
	pools     []Pool
	before    []Service // assigned in order first; each must succeed
	svc       Service
	wantPool  string
	wantAddrs []string
	wantErr   string
	wantKind  error
}

// assignFixture holds the pools and the Service that the Assign tables
// build their cases on.
type assignFixture struct {
	dual, v4, v6 Pool
	web          Service
}

func newAssignFixture() assignFixture {
	return assignFixture{
		dual: Pool{Name: "dual", Ranges: mustRanges("203.0.113.0/24", "2001:db8:100::/64"), AutoAssign: true},
		v4:   pool("v4", "198.51.100.0/24"),
		v6:   pool("v6", "2001:db8:200::/64"),
		web:  svc("web"),
	}
}

// dualWeb is the web Service with a family policy and families.
func (f assignFixture) dualWeb(p FamilyPolicy, fams ...Family) Service {
	return with(f.web, func(s *Service) { s.Policy, s.Families = p, fams })
}

// runAssignCases runs each case on an allocator of its own.
func runAssignCases(t *testing.T, tests []assignCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAllocatorWith(t, tt.pools...)
			for _, b := range tt.before {
				mustAssign(t, a, b)
			}
			got, err := a.Assign(tt.svc)
			checkError(t, err, tt.wantErr, tt.wantKind)
			if tt.wantErr != "" {
				if asg, ok := a.Assignment(tt.svc.Key); ok {
					t.Errorf("a failed first Assign recorded %v", asg)
				}
				return
			}
			checkAssignment(t, "Assign", got, tt.wantPool, tt.wantAddrs)
			stored, ok := a.Assignment(tt.svc.Key)
			if !ok {
				t.Fatalf("Assignment(%s) not found after Assign", tt.svc.Key)
			}
			checkAssignment(t, "Assignment", stored, tt.wantPool, tt.wantAddrs)
		})
	}
}

// Pools are tried by priority, then by name, and a full pool is skipped.
func TestAssignPoolOrder(t *testing.T) {
	t.Parallel()
	f := newAssignFixture()
	runAssignCases(t, []assignCase{
		{
			name:  "a Service gets the lowest address of the only pool",
			pools: []Pool{pool("a", "203.0.113.0/24")},
			svc:   f.web, wantPool: "a", wantAddrs: []string{"203.0.113.0"},
		},
		{
			name: "pools with a priority come before pools without one, lowest number first",
			pools: []Pool{
				pool("none", "198.51.100.0/26"),
				with2(pool("five", "198.51.100.64/26"), func(p *Pool) { p.Priority = 5 }),
				with2(pool("two", "198.51.100.128/26"), func(p *Pool) { p.Priority = 2 }),
			},
			svc: f.web, wantPool: "two", wantAddrs: []string{"198.51.100.128"},
		},
		{
			name: "ties in priority are broken by pool name",
			pools: []Pool{
				with2(pool("b", "198.51.100.0/26"), func(p *Pool) { p.Priority = 1 }),
				with2(pool("a", "198.51.100.64/26"), func(p *Pool) { p.Priority = 1 }),
			},
			svc: f.web, wantPool: "a", wantAddrs: []string{"198.51.100.64"},
		},
		{
			name:  "pools without a priority are ordered by name, not by definition order",
			pools: []Pool{pool("zeta", "198.51.100.0/26"), pool("alpha", "198.51.100.64/26")},
			svc:   f.web, wantPool: "alpha", wantAddrs: []string{"198.51.100.64"},
		},
		{
			name: "a full pool is skipped for the next one",
			pools: []Pool{
				with2(pool("first", "203.0.113.10/32"), func(p *Pool) { p.Priority = 1 }),
				with2(pool("second", "203.0.113.20/32"), func(p *Pool) { p.Priority = 2 }),
			},
			before: []Service{svc("one")},
			svc:    f.web, wantPool: "second", wantAddrs: []string{"203.0.113.20"},
		},
	})
}

// A pool limited to namespaces, by name or by label selector, serves only
// those.
func TestAssignNamespaceSelection(t *testing.T) {
	t.Parallel()
	f := newAssignFixture()
	runAssignCases(t, []assignCase{
		{
			name: "a Service in a namespace the pool does not list skips that pool",
			pools: []Pool{
				with2(pool("team", "198.51.100.0/26"), func(p *Pool) { p.Priority, p.Namespaces = 1, []string{"team-a"} }),
				pool("shared", "198.51.100.64/26"),
			},
			svc: f.web, wantPool: "shared", wantAddrs: []string{"198.51.100.64"},
		},
		{
			name: "a Service in a namespace the pool lists may use it",
			pools: []Pool{
				with2(pool("team", "198.51.100.0/26"), func(p *Pool) { p.Priority, p.Namespaces = 1, []string{"team-a"} }),
				pool("shared", "198.51.100.64/26"),
			},
			svc:      Service{Key: "team-a/web", Namespace: "team-a"},
			wantPool: "team", wantAddrs: []string{"198.51.100.0"},
		},
		{
			name: "the namespace is taken from the key when it is not given",
			pools: []Pool{
				with2(pool("team", "198.51.100.0/26"), func(p *Pool) { p.Priority, p.Namespaces = 1, []string{"team-a"} }),
				pool("shared", "198.51.100.64/26"),
			},
			svc:      Service{Key: "team-a/web"},
			wantPool: "team", wantAddrs: []string{"198.51.100.0"},
		},
		{
			name: "a namespace whose labels match a selector of the pool may use it",
			pools: []Pool{
				with2(pool("gold", "198.51.100.0/26"), func(p *Pool) {
					p.Priority, p.NamespaceSelectors = 1, []LabelMatcher{labelsMatch{"tier": "bronze"}, labelsMatch{"tier": "gold"}}
				}),
				pool("shared", "198.51.100.64/26"),
			},
			svc:      with(f.web, func(s *Service) { s.NamespaceLabels = map[string]string{"tier": "gold"} }),
			wantPool: "gold", wantAddrs: []string{"198.51.100.0"},
		},
		{
			name: "a namespace whose labels match no selector of the pool skips it",
			pools: []Pool{
				with2(pool("gold", "198.51.100.0/26"), func(p *Pool) {
					p.Priority, p.NamespaceSelectors = 1, []LabelMatcher{labelsMatch{"tier": "gold"}}
				}),
				pool("shared", "198.51.100.64/26"),
			},
			svc:      with(f.web, func(s *Service) { s.NamespaceLabels = map[string]string{"tier": "silver"} }),
			wantPool: "shared", wantAddrs: []string{"198.51.100.64"},
		},
		{
			name: "a namespace listed by name may use a pool that also has selectors",
			pools: []Pool{
				with2(pool("gold", "198.51.100.0/26"), func(p *Pool) {
					p.Priority, p.Namespaces, p.NamespaceSelectors = 1, []string{"default"}, []LabelMatcher{labelsMatch{"tier": "gold"}}
				}),
				pool("shared", "198.51.100.64/26"),
			},
			svc: f.web, wantPool: "gold", wantAddrs: []string{"198.51.100.0"},
		},
	})
}

// A pool with service selectors serves only the Services they match.
func TestAssignServiceSelection(t *testing.T) {
	t.Parallel()
	f := newAssignFixture()
	runAssignCases(t, []assignCase{
		{
			name: "a Service whose labels match no service selector skips the pool",
			pools: []Pool{
				with2(pool("web-only", "198.51.100.0/26"), func(p *Pool) {
					p.Priority, p.ServiceSelectors = 1, []LabelMatcher{labelsMatch{"app": "web"}}
				}),
				pool("shared", "198.51.100.64/26"),
			},
			svc:      with(f.web, func(s *Service) { s.Labels = map[string]string{"app": "db"} }),
			wantPool: "shared", wantAddrs: []string{"198.51.100.64"},
		},
		{
			name: "a Service whose labels match a service selector may use the pool",
			pools: []Pool{
				with2(pool("web-only", "198.51.100.0/26"), func(p *Pool) {
					p.Priority, p.ServiceSelectors = 1, []LabelMatcher{labelsMatch{"app": "web"}}
				}),
				pool("shared", "198.51.100.64/26"),
			},
			svc:      with(f.web, func(s *Service) { s.Labels = map[string]string{"app": "web", "team": "a"} }),
			wantPool: "web-only", wantAddrs: []string{"198.51.100.0"},
		},
	})
}

// A pool that does not assign automatically serves only Services that name
// it; a named pool must exist and allow the Service; a Service no pool serves
// is told why.
func TestAssignNamedAndAutomaticPools(t *testing.T) {
	t.Parallel()
	f := newAssignFixture()
	runAssignCases(t, []assignCase{
		{
			name: "a pool that does not assign automatically is skipped",
			pools: []Pool{
				{Name: "manual", Ranges: mustRanges("198.51.100.0/26"), Priority: 1},
				pool("auto", "198.51.100.64/26"),
			},
			svc: f.web, wantPool: "auto", wantAddrs: []string{"198.51.100.64"},
		},
		{
			name: "a pool that does not assign automatically is used when the Service names it",
			pools: []Pool{
				{Name: "manual", Ranges: mustRanges("198.51.100.0/26")},
				pool("auto", "198.51.100.64/26"),
			},
			svc:      with(f.web, func(s *Service) { s.RequestedPool = "manual" }),
			wantPool: "manual", wantAddrs: []string{"198.51.100.0"},
		},
		{
			name: "a named pool that does not allow the namespace is refused",
			pools: []Pool{
				with2(pool("gold", "198.51.100.0/26"), func(p *Pool) { p.Namespaces = []string{"y"} }),
			},
			svc:     Service{Key: "x/web", RequestedPool: "gold"},
			wantErr: `pool "gold" does not allow namespace "x"`, wantKind: ErrNotAllowed,
		},
		{
			name: "a named pool whose service selectors do not match is refused",
			pools: []Pool{
				with2(pool("gold", "198.51.100.0/26"), func(p *Pool) { p.ServiceSelectors = []LabelMatcher{labelsMatch{"app": "web"}} }),
			},
			svc:     with(f.web, func(s *Service) { s.RequestedPool = "gold" }),
			wantErr: `pool "gold" does not allow service default/web: its labels match none of the pool's service selectors`, wantKind: ErrNotAllowed,
		},
		{
			name:    "a named pool that does not exist is refused",
			pools:   []Pool{f.v4},
			svc:     with(f.web, func(s *Service) { s.RequestedPool = "gold" }),
			wantErr: `pool "gold" does not exist`, wantKind: ErrNoPool,
		},
		{
			name:    "a Service no pool assigns to automatically is told why",
			pools:   []Pool{{Name: "manual", Ranges: mustRanges("198.51.100.0/26")}},
			svc:     f.web,
			wantErr: `no pool can assign an address to default/web automatically: pool "manual" does not assign automatically`, wantKind: ErrNotAllowed,
		},
		{
			name: "a Service refused by every pool is told each pool's reason",
			pools: []Pool{
				{Name: "manual", Ranges: mustRanges("198.51.100.0/26")},
				with2(pool("team", "198.51.100.64/26"), func(p *Pool) { p.Namespaces = []string{"team-a"} }),
			},
			svc:     f.web,
			wantErr: `no pool can assign an address to default/web automatically: pool "manual" does not assign automatically; pool "team" does not allow namespace "default"`, wantKind: ErrNotAllowed,
		},
		{
			name:    "with no pools nothing is assigned",
			svc:     f.web,
			wantErr: "no address pools are configured", wantKind: ErrNoPool,
		},
	})
}

// avoidBuggyIPs keeps IPv4 .0 and .255 addresses out of every assignment.
func TestAssignAvoidBuggyIPs(t *testing.T) {
	t.Parallel()
	f := newAssignFixture()
	runAssignCases(t, []assignCase{
		{
			name:  "avoidBuggyIPs skips addresses ending in .0 and .255",
			pools: []Pool{with2(pool("a", "203.0.113.255-203.0.114.1"), func(p *Pool) { p.AvoidBuggyIPs = true })},
			svc:   f.web, wantPool: "a", wantAddrs: []string{"203.0.114.1"},
		},
		{
			name:  "without avoidBuggyIPs the .0 address is handed out",
			pools: []Pool{pool("a", "203.0.114.0/24")},
			svc:   f.web, wantPool: "a", wantAddrs: []string{"203.0.114.0"},
		},
		{
			name:    "a request for a .0 address in a pool that avoids it is refused",
			pools:   []Pool{with2(pool("a", "203.0.114.0/24"), func(p *Pool) { p.AvoidBuggyIPs = true })},
			svc:     with(f.web, func(s *Service) { s.RequestedAddrs = mustAddrs("203.0.114.0") }),
			wantErr: `address "203.0.114.0" ends in .0 or .255, which pool "a" avoids`, wantKind: ErrNotAllowed,
		},
		{
			name:    "a pool of only .255 and .0 addresses that avoids them is exhausted at once",
			pools:   []Pool{with2(pool("a", "203.0.113.255-203.0.114.0"), func(p *Pool) { p.AvoidBuggyIPs = true })},
			svc:     f.web,
			wantErr: `no free IPv4 address in pool "a"`, wantKind: ErrExhausted,
		},
		{
			name:     "avoidBuggyIPs does not apply to IPv6",
			pools:    []Pool{with2(pool("a", "2001:db8:100::ff-2001:db8:100::1ff"), func(p *Pool) { p.AvoidBuggyIPs = true })},
			svc:      with(f.web, func(s *Service) { s.Families = []Family{IPv6} }),
			wantPool: "a", wantAddrs: []string{"2001:db8:100::ff"},
		},
	})
}

// A Service that finds no free address is told which pools are full.
func TestAssignExhaustion(t *testing.T) {
	t.Parallel()
	f := newAssignFixture()
	runAssignCases(t, []assignCase{
		{
			name:    "an exhausted pool reports ErrExhausted",
			pools:   []Pool{pool("a", "203.0.113.10/32")},
			before:  []Service{svc("one")},
			svc:     f.web,
			wantErr: `no free IPv4 address in pool "a"`, wantKind: ErrExhausted,
		},
		{
			name:    "exhaustion of several pools names them all",
			pools:   []Pool{pool("a", "203.0.113.10/32"), pool("b", "203.0.113.20/32")},
			before:  []Service{svc("one"), svc("two")},
			svc:     f.web,
			wantErr: `no free IPv4 address in pools "a", "b"`, wantKind: ErrExhausted,
		},
	})
}

// A Service gets addresses of its families, and a malformed Service is
// refused.
func TestAssignFamilies(t *testing.T) {
	t.Parallel()
	f := newAssignFixture()
	runAssignCases(t, []assignCase{
		{
			name:     "an IPv6 SingleStack Service gets an IPv6 address",
			pools:    []Pool{f.v4, f.v6},
			svc:      with(f.web, func(s *Service) { s.Families = []Family{IPv6} }),
			wantPool: "v6", wantAddrs: []string{"2001:db8:200::1"},
		},
		{
			name:    "an IPv6 Service with only IPv4 pools is refused",
			pools:   []Pool{f.v4},
			svc:     with(f.web, func(s *Service) { s.Families = []Family{IPv6} }),
			wantErr: "no pool has addresses for IPv6", wantKind: ErrNoPool,
		},
		{
			name:    "an IPv6 Service whose only IPv6 pool it may not use is told so",
			pools:   []Pool{f.v4, with2(f.v6, func(p *Pool) { p.Namespaces = []string{"other"} })},
			svc:     with(f.web, func(s *Service) { s.Families = []Family{IPv6} }),
			wantErr: "no pool that default/web may use has addresses for IPv6", wantKind: ErrNoPool,
		},
		{
			name:    "a named pool without the Service's family is refused",
			pools:   []Pool{f.v4},
			svc:     with(f.web, func(s *Service) { s.Families, s.RequestedPool = []Family{IPv6}, "v4" }),
			wantErr: `pool "v4" has no IPv6 addresses`, wantKind: ErrNoPool,
		},
		{
			name:     "a Service with no families and no requested address gets IPv4",
			pools:    []Pool{f.dual},
			svc:      with(f.web, func(s *Service) { s.Families = nil }),
			wantPool: "dual", wantAddrs: []string{"203.0.113.0"},
		},
		{
			name:     "a Service with no families takes the family of its requested address",
			pools:    []Pool{f.dual},
			svc:      with(f.web, func(s *Service) { s.Families, s.RequestedAddrs = nil, mustAddrs("2001:db8:100::9") }),
			wantPool: "dual", wantAddrs: []string{"2001:db8:100::9"},
		},
		{
			name:    "an unknown family policy is refused",
			pools:   []Pool{f.v4},
			svc:     f.dualWeb("Sometimes", IPv4),
			wantErr: `service default/web has unknown IP family policy "Sometimes"`, wantKind: ErrInvalidService,
		},
		{
			name:    "an unknown family is refused",
			pools:   []Pool{f.v4},
			svc:     f.dualWeb(SingleStack, 5),
			wantErr: "service default/web has unknown IP family Family(5)", wantKind: ErrInvalidService,
		},
		{
			name:    "a Service without a key is refused",
			pools:   []Pool{f.v4},
			svc:     Service{},
			wantErr: "service has no key", wantKind: ErrInvalidService,
		},
	})
}

// SingleStack gets the primary family; RequireDualStack gets both from one
// pool or nothing.
func TestAssignSingleAndRequireDualStack(t *testing.T) {
	t.Parallel()
	f := newAssignFixture()
	runAssignCases(t, []assignCase{
		{
			name:     "SingleStack uses only the primary family",
			pools:    []Pool{f.dual},
			svc:      f.dualWeb(SingleStack, IPv6, IPv4),
			wantPool: "dual", wantAddrs: []string{"2001:db8:100::1"},
		},
		{
			name:     "RequireDualStack gets both families from one pool, primary first",
			pools:    []Pool{f.dual},
			svc:      f.dualWeb(RequireDualStack, IPv6, IPv4),
			wantPool: "dual", wantAddrs: []string{"2001:db8:100::1", "203.0.113.0"},
		},
		{
			name:     "RequireDualStack with one family listed still gets both",
			pools:    []Pool{f.dual},
			svc:      f.dualWeb(RequireDualStack, IPv4),
			wantPool: "dual", wantAddrs: []string{"203.0.113.0", "2001:db8:100::1"},
		},
		{
			name:     "RequireDualStack skips a higher-priority pool with only one family",
			pools:    []Pool{with2(f.v4, func(p *Pool) { p.Priority = 1 }), with2(f.dual, func(p *Pool) { p.Priority = 2 })},
			svc:      f.dualWeb(RequireDualStack, IPv4, IPv6),
			wantPool: "dual", wantAddrs: []string{"203.0.113.0", "2001:db8:100::1"},
		},
		{
			name:    "RequireDualStack with the families in different pools is refused",
			pools:   []Pool{f.v4, f.v6},
			svc:     f.dualWeb(RequireDualStack, IPv4, IPv6),
			wantErr: "no pool that default/web may use has addresses for both IPv4 and IPv6", wantKind: ErrNoPool,
		},
		{
			name:    "RequireDualStack with no free IPv6 address reports exhaustion",
			pools:   []Pool{{Name: "dual", Ranges: mustRanges("203.0.113.0/24", "2001:db8:100::/128"), AutoAssign: true}},
			before:  []Service{with(svc("v6"), func(s *Service) { s.Families = []Family{IPv6} })},
			svc:     f.dualWeb(RequireDualStack, IPv4, IPv6),
			wantErr: `no free IPv6 address in pool "dual"`, wantKind: ErrExhausted,
		},
	})
}

// PreferDualStack gets both families where a pool has them, else the primary
// one.
func TestAssignPreferDualStack(t *testing.T) {
	t.Parallel()
	f := newAssignFixture()
	runAssignCases(t, []assignCase{
		{
			name:     "PreferDualStack gets both families when a pool has both",
			pools:    []Pool{f.dual},
			svc:      f.dualWeb(PreferDualStack, IPv4, IPv6),
			wantPool: "dual", wantAddrs: []string{"203.0.113.0", "2001:db8:100::1"},
		},
		{
			name:     "PreferDualStack prefers a pool with both families over a higher-priority pool with one",
			pools:    []Pool{with2(f.v4, func(p *Pool) { p.Priority = 1 }), with2(f.dual, func(p *Pool) { p.Priority = 2 })},
			svc:      f.dualWeb(PreferDualStack, IPv4, IPv6),
			wantPool: "dual", wantAddrs: []string{"203.0.113.0", "2001:db8:100::1"},
		},
		{
			name:     "PreferDualStack falls back to the first pool with the primary family",
			pools:    []Pool{with2(f.v4, func(p *Pool) { p.Priority = 1 }), with2(pool("v4b", "203.0.113.0/24"), func(p *Pool) { p.Priority = 2 })},
			svc:      f.dualWeb(PreferDualStack, IPv4, IPv6),
			wantPool: "v4", wantAddrs: []string{"198.51.100.0"},
		},
		{
			name:     "PreferDualStack falls back to the primary family when the other is exhausted",
			pools:    []Pool{{Name: "dual", Ranges: mustRanges("203.0.113.0/24", "2001:db8:100::/128"), AutoAssign: true}},
			before:   []Service{with(svc("v6"), func(s *Service) { s.Families = []Family{IPv6} })},
			svc:      f.dualWeb(PreferDualStack, IPv4, IPv6),
			wantPool: "dual", wantAddrs: []string{"203.0.113.0"},
		},
		{
			name:     "PreferDualStack with one family listed is single-stack",
			pools:    []Pool{f.dual},
			svc:      f.dualWeb(PreferDualStack, IPv4),
			wantPool: "dual", wantAddrs: []string{"203.0.113.0"},
		},
		{
			name:    "PreferDualStack without the primary family anywhere is refused",
			pools:   []Pool{f.v4},
			svc:     f.dualWeb(PreferDualStack, IPv6, IPv4),
			wantErr: "no pool has addresses for IPv6", wantKind: ErrNoPool,
		},
	})
}

// A requested address is given if it lies in one pool the Service may use and
// is free.
func TestAssignRequestedAddresses(t *testing.T) {
	t.Parallel()
	f := newAssignFixture()
	runAssignCases(t, []assignCase{
		{
			name:     "a requested address is given",
			pools:    []Pool{pool("a", "203.0.113.0/24")},
			svc:      with(f.web, func(s *Service) { s.RequestedAddrs = mustAddrs("203.0.113.77") }),
			wantPool: "a", wantAddrs: []string{"203.0.113.77"},
		},
		{
			name:     "a requested address in a pool that does not assign automatically is given",
			pools:    []Pool{{Name: "manual", Ranges: mustRanges("203.0.113.0/24")}},
			svc:      with(f.web, func(s *Service) { s.RequestedAddrs = mustAddrs("203.0.113.77") }),
			wantPool: "manual", wantAddrs: []string{"203.0.113.77"},
		},
		{
			name:     "a requested address inside the requested pool is given",
			pools:    []Pool{pool("a", "203.0.113.0/26"), pool("b", "203.0.113.64/26")},
			svc:      with(f.web, func(s *Service) { s.RequestedAddrs, s.RequestedPool = mustAddrs("203.0.113.70"), "b" }),
			wantPool: "b", wantAddrs: []string{"203.0.113.70"},
		},
		{
			name:    "a requested address outside every pool is refused",
			pools:   []Pool{pool("a", "203.0.113.0/26")},
			svc:     with(f.web, func(s *Service) { s.RequestedAddrs = mustAddrs("203.0.113.99") }),
			wantErr: `address "203.0.113.99" is not in any pool`, wantKind: ErrNoPool,
		},
		{
			name:    "requested addresses in two pools are refused",
			pools:   []Pool{f.v4, f.v6},
			svc:     with(f.dualWeb(RequireDualStack, IPv4, IPv6), func(s *Service) { s.RequestedAddrs = mustAddrs("198.51.100.5", "2001:db8:200::5") }),
			wantErr: `addresses "198.51.100.5" and "2001:db8:200::5" are in different pools ("v4" and "v6")`, wantKind: ErrNotAllowed,
		},
		{
			name:    "a requested address outside the requested pool is refused",
			pools:   []Pool{pool("a", "203.0.113.0/26"), pool("b", "203.0.113.64/26")},
			svc:     with(f.web, func(s *Service) { s.RequestedAddrs, s.RequestedPool = mustAddrs("203.0.113.5"), "b" }),
			wantErr: `address "203.0.113.5" is in pool "a", not in the requested pool "b"`, wantKind: ErrNotAllowed,
		},
		{
			name:    "a requested address with a requested pool that does not exist is refused",
			pools:   []Pool{pool("a", "203.0.113.0/26")},
			svc:     with(f.web, func(s *Service) { s.RequestedAddrs, s.RequestedPool = mustAddrs("203.0.113.5"), "b" }),
			wantErr: `pool "b" does not exist`, wantKind: ErrNoPool,
		},
		{
			name:    "a requested address in a pool that does not allow the namespace is refused",
			pools:   []Pool{with2(pool("gold", "203.0.113.0/26"), func(p *Pool) { p.Namespaces = []string{"y"} })},
			svc:     Service{Key: "x/web", RequestedAddrs: mustAddrs("203.0.113.5")},
			wantErr: `pool "gold" does not allow namespace "x"`, wantKind: ErrNotAllowed,
		},
		{
			name:    "a requested address held by a Service without a sharing key is refused",
			pools:   []Pool{pool("a", "203.0.113.0/24")},
			before:  []Service{with(svc("other"), func(s *Service) { s.RequestedAddrs = mustAddrs("203.0.113.5") })},
			svc:     with(f.web, func(s *Service) { s.RequestedAddrs, s.SharingKey = mustAddrs("203.0.113.5"), "k" }),
			wantErr: `address "203.0.113.5" is already used by default/other, which does not allow sharing`, wantKind: ErrInUse,
		},
	})
}

// Requested addresses must fit the Service: one per family, every required
// family, no zone or mapped form.
func TestAssignRequestedAddressesFitTheFamilies(t *testing.T) {
	t.Parallel()
	f := newAssignFixture()
	runAssignCases(t, []assignCase{
		{
			name:    "a requested address of a family the Service does not use is refused",
			pools:   []Pool{f.dual},
			svc:     with(f.web, func(s *Service) { s.RequestedAddrs = mustAddrs("2001:db8:100::5") }),
			wantErr: `requested address "2001:db8:100::5" is IPv6, but the Service's IP families are [IPv4]`, wantKind: ErrInvalidService,
		},
		{
			name:    "a SingleStack Service requesting one address of each family is refused",
			pools:   []Pool{f.dual},
			svc:     with(f.web, func(s *Service) { s.Families, s.RequestedAddrs = nil, mustAddrs("203.0.113.5", "2001:db8:100::5") }),
			wantErr: `requested address "2001:db8:100::5" is IPv6, but the Service's IP families are [IPv4]`, wantKind: ErrInvalidService,
		},
		{
			name:    "two requested addresses of one family are refused",
			pools:   []Pool{f.dual},
			svc:     with(f.dualWeb(PreferDualStack, IPv4, IPv6), func(s *Service) { s.RequestedAddrs = mustAddrs("203.0.113.5", "203.0.113.6") }),
			wantErr: `two requested addresses are IPv4 ("203.0.113.5" and "203.0.113.6")`, wantKind: ErrInvalidService,
		},
		{
			name:    "RequireDualStack with one requested address is refused",
			pools:   []Pool{f.dual},
			svc:     with(f.dualWeb(RequireDualStack, IPv4, IPv6), func(s *Service) { s.RequestedAddrs = mustAddrs("203.0.113.5") }),
			wantErr: "needs an IPv6 requested address, but none was given", wantKind: ErrInvalidService,
		},
		{
			name:    "PreferDualStack requesting only the secondary family is refused",
			pools:   []Pool{f.dual},
			svc:     with(f.dualWeb(PreferDualStack, IPv4, IPv6), func(s *Service) { s.RequestedAddrs = mustAddrs("2001:db8:100::5") }),
			wantErr: "needs an IPv4 requested address, but none was given", wantKind: ErrInvalidService,
		},
		{
			name:  "requested dual-stack addresses come back ordered like the families",
			pools: []Pool{f.dual},
			svc: with(f.dualWeb(RequireDualStack, IPv4, IPv6), func(s *Service) {
				s.RequestedAddrs = mustAddrs("2001:db8:100::5", "203.0.113.5")
			}),
			wantPool: "dual", wantAddrs: []string{"203.0.113.5", "2001:db8:100::5"},
		},
		{
			name:     "PreferDualStack requesting only the primary family gets just that",
			pools:    []Pool{f.dual},
			svc:      with(f.dualWeb(PreferDualStack, IPv4, IPv6), func(s *Service) { s.RequestedAddrs = mustAddrs("203.0.113.5") }),
			wantPool: "dual", wantAddrs: []string{"203.0.113.5"},
		},
		{
			name:    "a requested IPv4-mapped IPv6 address is refused",
			pools:   []Pool{f.dual},
			svc:     with(f.web, func(s *Service) { s.RequestedAddrs = mustAddrs("::ffff:203.0.113.5") }),
			wantErr: `requested address "::ffff:203.0.113.5" is an IPv4-mapped IPv6 address; use "203.0.113.5"`, wantKind: ErrInvalidService,
		},
		{
			name:    "a requested address with a zone is refused",
			pools:   []Pool{f.dual},
			svc:     with(f.web, func(s *Service) { s.Families, s.RequestedAddrs = []Family{IPv6}, mustAddrs("2001:db8:100::5%eth0") }),
			wantErr: `requested address "2001:db8:100::5%eth0" has a zone`, wantKind: ErrInvalidService,
		},
	})
}

// with2 is with for pools.
func with2(p Pool, f func(*Pool)) Pool {
	f(&p)
	return p
}

// sharingCase assigns first, then second, on an allocator with
// sharingPools.
type sharingCase struct {
	name      string
	first     Service
	second    Service
	wantAddrs []string
	wantPool  string
	wantErr   string
}

// sharingPools are three pools by priority; only namespace default may use
// the last.
func sharingPools() []Pool {
	return []Pool{
		with2(pool("high", "203.0.113.0/25", "2001:db8:100::/64"), func(p *Pool) { p.Priority = 1 }),
		with2(pool("low", "198.51.100.0/24"), func(p *Pool) { p.Priority = 2 }),
		with2(pool("private", "203.0.113.128/29"), func(p *Pool) { p.Priority = 3; p.Namespaces = []string{"default"} }),
	}
}

// sharing returns a Service with a sharing key and ports that requests
// addrs, if any.
func sharing(name, key string, ports []Port, addrs ...string) Service {
	return with(svc(name), func(s *Service) {
		s.SharingKey, s.Ports = key, ports
		if len(addrs) > 0 {
			s.RequestedAddrs = mustAddrs(addrs...)
		}
	})
}

// asLocal makes s an externalTrafficPolicy Local Service selecting pods by
// selector.
func asLocal(s Service, selector string) Service {
	s.Local, s.PodSelector = true, selector
	return s
}

// runSharingCases runs each case on an allocator of its own; whatever
// happens to the second Service, the first must keep its addresses.
func runSharingCases(t *testing.T, tests []sharingCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAllocatorWith(t, sharingPools()...)
			firstAsg := mustAssign(t, a, tt.first)
			got, err := a.Assign(tt.second)
			checkError(t, err, tt.wantErr, ErrInUse)
			if tt.wantErr == "" {
				checkAssignment(t, "second Assign", got, tt.wantPool, tt.wantAddrs)
			}
			// Whatever happened to the second Service, the first keeps its addresses.
			after, _ := a.Assignment(tt.first.Key)
			checkAssignment(t, "first Service after the second", after, firstAsg.Pool, addrStrings(firstAsg.Addrs))
		})
	}
}

// Services with one sharing key share an address while their ports do not
// clash; protocols count, their case does not.
func TestSharingByKeyAndPorts(t *testing.T) {
	t.Parallel()
	runSharingCases(t, []sharingCase{
		{
			name:     "two Services with the same sharing key and different ports share a requested address",
			first:    sharing("a", "k", tcp(80), "203.0.113.5"),
			second:   sharing("b", "k", tcp(443), "203.0.113.5"),
			wantPool: "high", wantAddrs: []string{"203.0.113.5"},
		},
		{
			name:     "a Service with a sharing key reuses its key's address without asking for it",
			first:    sharing("a", "k", tcp(80)),
			second:   sharing("b", "k", tcp(443)),
			wantPool: "high", wantAddrs: []string{"203.0.113.0"},
		},
		{
			name:     "a sharing key reuses an address from a lower-priority pool",
			first:    sharing("a", "k", tcp(80), "198.51.100.7"),
			second:   sharing("b", "k", tcp(443)),
			wantPool: "low", wantAddrs: []string{"198.51.100.7"},
		},
		{
			name:    "a port clash refuses a requested shared address",
			first:   sharing("a", "k", tcp(80), "203.0.113.5"),
			second:  sharing("b", "k", tcp(443, 80), "203.0.113.5"),
			wantErr: `cannot share address "203.0.113.5": port TCP/80 clashes with default/a`,
		},
		{
			name:     "a port clash makes an automatic Service take a new address",
			first:    sharing("a", "k", tcp(80)),
			second:   sharing("b", "k", tcp(80)),
			wantPool: "high", wantAddrs: []string{"203.0.113.1"},
		},
		{
			name:     "the same port number over UDP and TCP does not clash",
			first:    sharing("a", "k", []Port{{Protocol: "TCP", Port: 53}}, "203.0.113.5"),
			second:   sharing("b", "k", []Port{{Protocol: "UDP", Port: 53}}, "203.0.113.5"),
			wantPool: "high", wantAddrs: []string{"203.0.113.5"},
		},
		{
			name:    "an empty protocol means TCP and clashes with TCP",
			first:   sharing("a", "k", []Port{{Port: 80}}, "203.0.113.5"),
			second:  sharing("b", "k", tcp(80), "203.0.113.5"),
			wantErr: `port TCP/80 clashes with default/a`,
		},
		{
			name:    "protocols are compared without regard to case",
			first:   sharing("a", "k", []Port{{Protocol: "udp", Port: 53}}, "203.0.113.5"),
			second:  sharing("b", "k", []Port{{Protocol: "UDP", Port: 53}}, "203.0.113.5"),
			wantErr: `port UDP/53 clashes with default/a`,
		},
	})
}

// Sharing needs the same sharing key on both Services.
func TestSharingNeedsOneKeyOnBothSides(t *testing.T) {
	t.Parallel()
	runSharingCases(t, []sharingCase{
		{
			name:    "different sharing keys refuse sharing",
			first:   sharing("a", "a", tcp(80), "203.0.113.5"),
			second:  sharing("b", "b", tcp(443), "203.0.113.5"),
			wantErr: `address "203.0.113.5" is already used by default/a (sharing key "a" differs from "b")`,
		},
		{
			name:    "a holder without a sharing key refuses sharing",
			first:   sharing("a", "", tcp(80), "203.0.113.5"),
			second:  sharing("b", "k", tcp(443), "203.0.113.5"),
			wantErr: `address "203.0.113.5" is already used by default/a, which does not allow sharing`,
		},
		{
			name:    "a Service without a sharing key may not join a shared address",
			first:   sharing("a", "k", tcp(80), "203.0.113.5"),
			second:  sharing("b", "", tcp(443), "203.0.113.5"),
			wantErr: `address "203.0.113.5" is already used by default/a (and default/b has no sharing key)`,
		},
	})
}

// Services with externalTrafficPolicy Local share only with Local Services
// selecting the same pods.
func TestSharingOfLocalServices(t *testing.T) {
	t.Parallel()
	runSharingCases(t, []sharingCase{
		{
			name:     "Local Services with the same pod selector share",
			first:    asLocal(sharing("a", "k", tcp(80), "203.0.113.5"), "app=web"),
			second:   asLocal(sharing("b", "k", tcp(443), "203.0.113.5"), "app=web"),
			wantPool: "high", wantAddrs: []string{"203.0.113.5"},
		},
		{
			name:    "Local Services with different pod selectors do not share",
			first:   asLocal(sharing("a", "k", tcp(80), "203.0.113.5"), "app=web"),
			second:  asLocal(sharing("b", "k", tcp(443), "203.0.113.5"), "app=db"),
			wantErr: `cannot share address "203.0.113.5" with default/a: both have externalTrafficPolicy Local but select different pods`,
		},
		{
			name:    "a Local and a Cluster Service do not share",
			first:   sharing("a", "k", tcp(80), "203.0.113.5"),
			second:  asLocal(sharing("b", "k", tcp(443), "203.0.113.5"), "app=web"),
			wantErr: `cannot share address "203.0.113.5" with default/a: one Service has externalTrafficPolicy Local and the other Cluster`,
		},
		{
			name:     "a Local Service with a different selector takes a new address instead of sharing",
			first:    asLocal(sharing("a", "k", tcp(80)), "app=web"),
			second:   asLocal(sharing("b", "k", tcp(443)), "app=db"),
			wantPool: "high", wantAddrs: []string{"203.0.113.1"},
		},
	})
}

// Dual-stack Services share per family, and a sharing key never leads into a
// pool the Service may not use.
func TestSharingAcrossFamiliesAndPools(t *testing.T) {
	t.Parallel()
	runSharingCases(t, []sharingCase{
		{
			name:     "dual-stack Services share both addresses",
			first:    dualStack(sharing("a", "k", tcp(80)), RequireDualStack),
			second:   dualStack(sharing("b", "k", tcp(443)), RequireDualStack),
			wantPool: "high", wantAddrs: []string{"203.0.113.0", "2001:db8:100::1"},
		},
		{
			name:     "a dual-stack Service shares the family it can and takes a new address for the other",
			first:    sharing("a", "k", tcp(80)),
			second:   dualStack(sharing("b", "k", tcp(443)), RequireDualStack),
			wantPool: "high", wantAddrs: []string{"203.0.113.0", "2001:db8:100::1"},
		},
		{
			name:  "a sharing Service does not follow its key into a pool it may not use",
			first: sharing("a", "k", tcp(80), "203.0.113.131"),
			second: with(sharing("b", "k", tcp(443)), func(s *Service) {
				s.Key, s.Namespace = "other/b", "other"
			}),
			wantPool: "high", wantAddrs: []string{"203.0.113.0"},
		},
	})
}
