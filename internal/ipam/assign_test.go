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
