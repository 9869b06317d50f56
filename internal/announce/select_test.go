package announce

import (
	"net/netip"
	"testing"
)

// TestComputeSelectsServicesByPoolAndLabels checks that an advertisement announces the Services of
// the pools it selects, by name or pool selector, that match one of its
// Service selectors.
func TestComputeSelectsServicesByPoolAndLabels(t *testing.T) {
	t.Parallel()
	runComputeCases(t, []computeCase{
		{
			name: "an advertisement without pool filter announces Services of every pool and of no pool",
			in:   input([]Service{web, svc("db", "red", "198.51.100.1"), svc("x", "", "198.51.100.2")}, all),
			want: both("198.51.100.1/32", "198.51.100.2/32", "203.0.113.10/32"),
		},
		{
			name: "an advertisement listing pools announces only Services of those pools",
			in: input([]Service{web, svc("db", "red", "198.51.100.1"), svc("x", "", "198.51.100.2")},
				adv("blue", func(a *Advertisement) { a.Pools = []string{"blue"} })),
			want: both("203.0.113.10/32"),
		},
		{
			name: "a pool selector selects pools by their labels",
			in: input([]Service{web, svc("db", "red", "198.51.100.1")},
				adv("red", func(a *Advertisement) { a.PoolSelectors = []LabelMatcher{labelsMatch{"color": "red"}} })),
			want: both("198.51.100.1/32"),
		},
		{
			name: "a pool listed by name or matching a selector is selected",
			in: input([]Service{web, svc("db", "red", "198.51.100.1"), svc("x", "green", "198.51.100.2")},
				adv("two", func(a *Advertisement) {
					a.Pools = []string{"blue"}
					a.PoolSelectors = []LabelMatcher{labelsMatch{"color": "red"}}
				})),
			want: both("198.51.100.1/32", "203.0.113.10/32"),
		},
		{
			name: "a Service with no pool is not selected by an advertisement with a pool filter",
			in: input([]Service{svc("x", "", "198.51.100.2")},
				adv("any", func(a *Advertisement) { a.PoolSelectors = []LabelMatcher{labelsMatch{}} })),
			want: both(),
		},
		{
			name: "a pool missing from the input is selected by name but not by selector",
			in: input([]Service{svc("g", "green", "198.51.100.1")},
				adv("by-name", func(a *Advertisement) { a.Pools = []string{"green"} }),
				adv("by-selector", func(a *Advertisement) {
					a.PoolSelectors = []LabelMatcher{labelsMatch{}}
					a.Communities = []string{"65000:1"}
				})),
			want: both("198.51.100.1/32"),
		},
		{
			name: "a Service must match one of the service selectors",
			in: input([]Service{
				with(web, func(s *Service) { s.Labels = map[string]string{"app": "web"} }),
				with(svc("db", "blue", "203.0.113.20"), func(s *Service) { s.Labels = map[string]string{"app": "db"} }),
				svc("nolabels", "blue", "203.0.113.30"),
			}, adv("web", func(a *Advertisement) {
				a.ServiceSelectors = []LabelMatcher{labelsMatch{"app": "web"}, labelsMatch{"app": "api"}}
			})),
			want: both("203.0.113.10/32"),
		},
	})
}

// TestComputeSelectsNodesAndPeers checks that an advertisement applies on nodes matching one
// of its node selectors and announces to the peers it names that have a
// session here.
func TestComputeSelectsNodesAndPeers(t *testing.T) {
	t.Parallel()
	runComputeCases(t, []computeCase{
		{
			name: "an advertisement applies on a node matching one of its node selectors",
			in: input([]Service{web}, adv("zone-a", func(a *Advertisement) {
				a.NodeSelectors = []LabelMatcher{labelsMatch{"zone": "b"}, labelsMatch{"zone": "a"}}
			})),
			want: both("203.0.113.10/32"),
		},
		{
			name: "an advertisement does not apply on a node matching none of its node selectors",
			in: input([]Service{web}, adv("zone-b", func(a *Advertisement) {
				a.NodeSelectors = []LabelMatcher{labelsMatch{"zone": "b"}}
			})),
			want: both(),
		},
		{
			name: "an advertisement naming peers announces only to them and ignores unknown peers and peers without a session",
			in: with(input([]Service{web, web6}, adv("to-ebgp", func(a *Advertisement) {
				a.Peers = []string{"nonexistent", "ebgp", "elsewhere", "ebgp"}
			})), func(in *Input) {
				in.Peers = append(in.Peers, Peer{Name: "elsewhere", NodeSelectors: []LabelMatcher{labelsMatch{"zone": "b"}}})
			}),
			want: map[string][]string{"ebgp": {"203.0.113.10/32", "2001:db8:100::10/128"}, "ibgp": {}},
		},
		{
			name: "an advertisement naming only peers without a session announces nothing",
			in:   input([]Service{web}, adv("nowhere", func(a *Advertisement) { a.Peers = []string{"nonexistent"} })),
			want: both(),
		},
		{
			name: "without advertisements nothing is announced",
			in:   input([]Service{web}),
			want: both(),
		},
	})
}

// TestComputeAnnouncesLocalServicesWhereTheirEndpointsAre checks that a Local Service is announced only
// from nodes with a ready endpoint, or a serving one while none is ready
// anywhere.
func TestComputeAnnouncesLocalServicesWhereTheirEndpointsAre(t *testing.T) {
	t.Parallel()
	runComputeCases(t, []computeCase{
		{
			name: "a Local Service is announced from a node with a ready endpoint on it",
			in:   input([]Service{local(web, notReady(node), ready(node), ready("n2"))}, all),
			want: both("203.0.113.10/32"),
		},
		{
			name: "a Local IPv6 Service is announced from a node with a ready endpoint on it",
			in:   input([]Service{local(web6, ready(node))}, all),
			want: both("2001:db8:100::10/128"),
		},
		{
			name: "a Local Service is not announced from a node whose endpoint is not ready",
			in:   input([]Service{local(web, notReady(node), ready("n2"))}, all),
			want: both(),
		},
		{
			name: "a Local Service is not announced from a node without endpoints",
			in:   input([]Service{local(web, ready("n2")), local(web6, ready("n2"))}, all),
			want: both(),
		},
		{
			name: "a Local Service is announced from a node with a serving endpoint when no endpoint anywhere is ready",
			in:   input([]Service{local(web, serving(node), serving("n2")), local(web6, serving(node))}, all),
			want: both("203.0.113.10/32", "2001:db8:100::10/128"),
		},
		{
			name: "a Local Service with a ready endpoint elsewhere is not announced from a node with only a serving endpoint",
			in:   input([]Service{local(web, serving(node), ready("n2"))}, all),
			want: both(),
		},
		{
			name: "a Local Service without ready or serving endpoints is not announced",
			in:   input([]Service{local(web, notReady(node), notReady("n2"))}, all),
			want: both(),
		},
		{
			name: "an endpoint without a node name is not on a node without a name",
			in: with(input([]Service{local(web, ready(""))}, all), func(in *Input) {
				in.Node.Name = ""
			}),
			want: both(),
		},
		{
			name: "an address shared by a Local Service without local endpoints and one with them is announced",
			in: input([]Service{
				local(svc("a", "blue", "203.0.113.10"), ready("n2")),
				local(svc("b", "blue", "203.0.113.10"), ready(node)),
			}, all),
			want: both("203.0.113.10/32"),
		},
	})
}

// TestComputeAnnouncesClusterServicesWhileTheyHaveEndpoints checks that a Cluster Service with
// addresses is announced from every node while some endpoint anywhere is
// ready, or serving while none is ready.
func TestComputeAnnouncesClusterServicesWhileTheyHaveEndpoints(t *testing.T) {
	t.Parallel()
	runComputeCases(t, []computeCase{
		{
			name: "a Cluster Service is announced from a node without endpoints of its own",
			in: input([]Service{
				with(web, func(s *Service) { s.Endpoints = []Endpoint{notReady(node), ready("n2")} }),
				with(web6, func(s *Service) { s.Endpoints = []Endpoint{ready("n2")} }),
			}, all),
			want: both("203.0.113.10/32", "2001:db8:100::10/128"),
		},
		{
			name: "a Cluster Service without endpoints is withdrawn",
			in: input([]Service{
				with(web, func(s *Service) { s.Endpoints = nil }),
				with(web6, func(s *Service) { s.Endpoints = nil }),
			}, all),
			want: both(),
		},
		{
			name: "a Cluster Service whose endpoints are neither ready nor serving is withdrawn",
			in:   input([]Service{with(web, func(s *Service) { s.Endpoints = []Endpoint{notReady(node), notReady("n2")} })}, all),
			want: both(),
		},
		{
			name: "a Cluster Service whose endpoints only serve while terminating is still announced",
			in: input([]Service{
				with(web, func(s *Service) { s.Endpoints = []Endpoint{serving("n2")} }),
				with(web6, func(s *Service) { s.Endpoints = []Endpoint{serving("n2")} }),
			}, all),
			want: both("203.0.113.10/32", "2001:db8:100::10/128"),
		},
		{
			name: "a Service without addresses announces nothing",
			in:   input([]Service{svc("pending", "blue")}, all),
			want: both(),
		},
	})
}

// TestComputeAggregatesAddresses checks that every address is announced as the prefix of the
// advertisement's aggregation length for its family, each prefix once,
// and paths are sorted.
func TestComputeAggregatesAddresses(t *testing.T) {
	t.Parallel()
	runComputeCases(t, []computeCase{
		{
			name: "a dual-stack Service announces one IPv4 and one IPv6 host prefix",
			in:   input([]Service{svc("dual", "blue", "2001:db8:100::10", "203.0.113.10")}, all),
			want: both("203.0.113.10/32", "2001:db8:100::10/128"),
		},
		{
			name: "an IPv4-mapped IPv6 address is announced as IPv4 and an invalid address is skipped",
			in: input([]Service{with(svc("mapped", "blue"), func(s *Service) {
				s.Addrs = []netip.Addr{{}, netip.MustParseAddr("::ffff:203.0.113.10")}
			})}, all),
			want: both("203.0.113.10/32"),
		},
		{
			name: "a zone on an IPv6 address is ignored",
			in:   input([]Service{svc("zoned", "blue", "2001:db8:100::10%eth0")}, all),
			want: both("2001:db8:100::10/128"),
		},
		{
			name: "addresses of several Services collapse into one aggregated prefix per family",
			in: input([]Service{
				svc("a", "blue", "203.0.113.10", "2001:db8:100::10"),
				svc("b", "blue", "203.0.113.200", "2001:db8:100:0:ffff::1"),
				svc("c", "blue", "198.51.100.7"),
			}, adv("agg", func(a *Advertisement) {
				a.AggregationLength, a.AggregationLengthV6 = ptr(24), ptr(64)
			})),
			want: both("198.51.100.0/24", "203.0.113.0/24", "2001:db8:100::/64"),
		},
		{
			name: "aggregation length 0 announces the default route",
			in: input([]Service{svc("dual", "blue", "203.0.113.10", "2001:db8:100::10")}, adv("zero", func(a *Advertisement) {
				a.AggregationLength, a.AggregationLengthV6 = ptr(0), ptr(0)
			})),
			want: both("0.0.0.0/0", "::/0"),
		},
		{
			name: "an IPv4 aggregation length leaves IPv6 prefixes at 128 and vice versa",
			in: input([]Service{svc("dual", "blue", "203.0.113.10", "2001:db8:100::10")},
				adv("v4", func(a *Advertisement) { a.AggregationLength = ptr(24) }),
				adv("v6", func(a *Advertisement) { a.AggregationLengthV6 = ptr(48) })),
			want: both("203.0.113.0/24", "203.0.113.10/32", "2001:db8:100::/48", "2001:db8:100::10/128"),
		},
		{
			name: "aggregation lengths out of range are an error that quotes them",
			in: input([]Service{web, web6},
				adv("v4", func(a *Advertisement) { a.AggregationLength = ptr(33) }),
				adv("v4neg", func(a *Advertisement) { a.AggregationLength = ptr(-1) }),
				adv("v6", func(a *Advertisement) { a.AggregationLengthV6 = ptr(129) })),
			want: both(),
			wantErr: map[string][]string{
				"v4":    {"aggregationLength 33", "0 to 32"},
				"v4neg": {"aggregationLength -1"},
				"v6":    {"aggregationLengthV6 129", "0 to 128"},
			},
		},
		{
			name: "paths are sorted IPv4 before IPv6, then by address, then by length",
			in: input([]Service{
				svc("v6", "blue", "2001:db8:100::10"),
				svc("hi", "blue", "203.0.113.10"),
				svc("lo", "blue", "198.51.100.1"),
			}, all, adv("agg", func(a *Advertisement) { a.AggregationLength, a.AggregationLengthV6 = ptr(24), ptr(48) })),
			want: both("198.51.100.0/24", "198.51.100.1/32", "203.0.113.0/24", "203.0.113.10/32",
				"2001:db8:100::/48", "2001:db8:100::10/128"),
		},
	})
}
