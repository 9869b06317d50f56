package ipam

import (
	"testing"
)

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
