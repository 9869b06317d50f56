package ipam

import (
	"testing"
)

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
