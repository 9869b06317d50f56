package ipam

import (
	"testing"
)

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
