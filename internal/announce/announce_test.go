package announce

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCompute(t *testing.T) {
	all := Advertisement{Name: "all"}
	web := svc("web", "blue", "203.0.113.10")
	web6 := svc("web6", "blue", "2001:db8:100::10")
	adv := func(name string, f func(*Advertisement)) Advertisement {
		return with(Advertisement{Name: name}, f)
	}
	tests := []struct {
		name     string
		in       Input
		want     map[string][]string // peer to described paths
		wantErr  map[string][]string // advertisement to substrings of its error
		wantNext time.Time           // Result.NextChange
	}{
		// Sessions.
		{
			name: "a peer without node selectors has a session and gets the paths",
			in:   input([]Service{web}, all),
			want: both("203.0.113.10/32"),
		},
		{
			name: "a peer whose node selectors match the node has a session",
			in: with(input([]Service{web}, all), func(in *Input) {
				in.Peers = []Peer{with(ebgp, func(p *Peer) {
					p.NodeSelectors = []LabelMatcher{labelsMatch{"zone": "b"}, labelsMatch{"zone": "a"}}
				})}
			}),
			want: map[string][]string{"ebgp": {"203.0.113.10/32"}},
		},
		{
			name: "a peer whose node selectors do not match the node has no session",
			in: with(input([]Service{web}, all), func(in *Input) {
				in.Peers[0].NodeSelectors = []LabelMatcher{labelsMatch{"zone": "b"}}
			}),
			want: map[string][]string{"ibgp": {"203.0.113.10/32"}},
		},
		{
			name: "without peers there are no sessions",
			in:   with(input([]Service{web}, all), func(in *Input) { in.Peers = nil }),
			want: map[string][]string{},
		},
		{
			name: "of two peers with one name the first is used",
			in: with(input([]Service{web}, all), func(in *Input) {
				in.Peers = []Peer{
					with(ebgp, func(p *Peer) { p.NodeSelectors = []LabelMatcher{labelsMatch{"zone": "b"}} }),
					ebgp,
				}
			}),
			want: map[string][]string{},
		},
		{
			name: "a peer with a session but nothing to announce has an empty path list",
			in:   input(nil, all),
			want: both(),
		},
		{
			name: "a draining node without drain time keeps its sessions but announces nothing",
			in:   drained(input([]Service{web, web6}, all), t0, 0),
			want: both(),
		},
		{
			name: "a node whose network is unavailable keeps its sessions but announces nothing",
			in:   with(input([]Service{web, web6}, all), func(in *Input) { in.Node.NetworkUnavailable = true }),
			want: both(),
		},

		// Which advertisements apply.
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

		// Traffic policy and endpoints.
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
		{
			name: "an address shared by a Local Service without local endpoints and one with them is announced",
			in: input([]Service{
				local(svc("a", "blue", "203.0.113.10"), ready("n2")),
				local(svc("b", "blue", "203.0.113.10"), ready(node)),
			}, all),
			want: both("203.0.113.10/32"),
		},

		// Addresses, families and aggregation.
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

		// Attributes and merging.
		{
			name: "an advertisement's attributes go to its paths, LocalPref only toward iBGP peers",
			in: input([]Service{web, web6}, adv("attrs", func(a *Advertisement) {
				a.LocalPref, a.MED = ptr[uint32](200), ptr[uint32](10)
				a.Communities = []string{"65000:2", "no-export", "65000:1", "4200000000:1:2", "65000:1"}
			})),
			want: map[string][]string{
				"ebgp": {
					"203.0.113.10/32 c=65000:1,65000:2,65535:65281 lc=4200000000:1:2 med=10",
					"2001:db8:100::10/128 c=65000:1,65000:2,65535:65281 lc=4200000000:1:2 med=10",
				},
				"ibgp": {
					"203.0.113.10/32 c=65000:1,65000:2,65535:65281 lc=4200000000:1:2 lp=200 med=10",
					"2001:db8:100::10/128 c=65000:1,65000:2,65535:65281 lc=4200000000:1:2 lp=200 med=10",
				},
			},
		},
		{
			name: "each prefix appears once per peer and gets the communities of every advertisement announcing it, sorted and deduplicated",
			in: input([]Service{web, web6},
				adv("a", func(a *Advertisement) { a.Communities = []string{"65000:3", "65000:1", "1:2:3"} }),
				adv("b", func(a *Advertisement) { a.Communities = []string{"65000:2", "65000:1", "1:2:3", "1:1:9"} })),
			want: both(
				"203.0.113.10/32 c=65000:1,65000:2,65000:3 lc=1:1:9,1:2:3",
				"2001:db8:100::10/128 c=65000:1,65000:2,65000:3 lc=1:1:9,1:2:3",
			),
		},
		{
			name: "communities of an advertisement reach only the peers it names",
			in: input([]Service{web},
				all,
				adv("tagged", func(a *Advertisement) { a.Peers, a.Communities = []string{"ibgp"}, []string{"65000:1"} })),
			want: map[string][]string{"ebgp": {"203.0.113.10/32"}, "ibgp": {"203.0.113.10/32 c=65000:1"}},
		},
		{
			name: "LocalPref and MED set by one of several advertisements are used",
			in: input([]Service{web},
				adv("a", func(a *Advertisement) { a.LocalPref = ptr[uint32](50) }),
				adv("b", func(a *Advertisement) { a.MED = ptr[uint32](7) })),
			want: map[string][]string{"ebgp": {"203.0.113.10/32 med=7"}, "ibgp": {"203.0.113.10/32 lp=50 med=7"}},
		},
		{
			name: "advertisements agreeing about LocalPref and MED do not conflict",
			in: input([]Service{web},
				adv("a", func(a *Advertisement) { a.LocalPref, a.MED = ptr[uint32](50), ptr[uint32](7) }),
				adv("b", func(a *Advertisement) { a.LocalPref, a.MED = ptr[uint32](50), ptr[uint32](7) })),
			want: map[string][]string{"ebgp": {"203.0.113.10/32 med=7"}, "ibgp": {"203.0.113.10/32 lp=50 med=7"}},
		},
		{
			name: "advertisements disagreeing about MED for one prefix are both errors and contribute nothing anywhere",
			in: input([]Service{web, web6, svc("db", "red", "198.51.100.1")},
				adv("a", func(a *Advertisement) { a.MED = ptr[uint32](100) }),
				adv("b", func(a *Advertisement) { a.MED, a.Pools = ptr[uint32](200), []string{"blue"} }),
				adv("c", func(a *Advertisement) { a.Pools, a.Communities = []string{"red"}, []string{"65000:3"} })),
			want: both("198.51.100.1/32 c=65000:3"),
			wantErr: map[string][]string{
				"a": {`med 100 conflicts with med 200 of advertisement "b" for 203.0.113.10/32 toward peer "ebgp"`, "(and 3 more)"},
				"b": {`med 200 conflicts with med 100 of advertisement "a" for 203.0.113.10/32 toward peer "ebgp"`, "(and 3 more)"},
			},
		},
		{
			name: "advertisements disagreeing about MED for an IPv6 prefix conflict",
			in: input([]Service{web6},
				adv("a", func(a *Advertisement) { a.MED, a.Peers = ptr[uint32](1), []string{"ibgp"} }),
				adv("b", func(a *Advertisement) { a.MED, a.Peers = ptr[uint32](2), []string{"ibgp"} })),
			want: both(),
			wantErr: map[string][]string{
				"a": {`med 1 conflicts with med 2 of advertisement "b" for 2001:db8:100::10/128 toward peer "ibgp"`},
				"b": {`med 2 conflicts with med 1 of advertisement "a" for 2001:db8:100::10/128 toward peer "ibgp"`},
			},
		},
		{
			name: "advertisements disagreeing about LocalPref conflict toward an iBGP peer",
			in: input([]Service{web},
				adv("a", func(a *Advertisement) { a.LocalPref = ptr[uint32](100) }),
				adv("b", func(a *Advertisement) { a.LocalPref = ptr[uint32](200) })),
			want: both(),
			wantErr: map[string][]string{
				"a": {`localPref 100 conflicts with localPref 200 of advertisement "b" for 203.0.113.10/32 toward peer "ibgp"`},
				"b": {`localPref 200 conflicts with localPref 100 of advertisement "a"`},
			},
		},
		{
			name: "advertisements disagreeing about LocalPref do not conflict toward an eBGP peer, which gets no LocalPref",
			in: input([]Service{web},
				adv("a", func(a *Advertisement) { a.LocalPref, a.Peers = ptr[uint32](100), []string{"ebgp"} }),
				adv("b", func(a *Advertisement) { a.LocalPref, a.Peers = ptr[uint32](200), []string{"ebgp"} })),
			want: map[string][]string{"ebgp": {"203.0.113.10/32"}, "ibgp": {}},
		},
		{
			name: "advertisements disagreeing about MED toward different peers do not conflict",
			in: input([]Service{web},
				adv("a", func(a *Advertisement) { a.MED, a.Peers = ptr[uint32](100), []string{"ebgp"} }),
				adv("b", func(a *Advertisement) { a.MED, a.Peers = ptr[uint32](200), []string{"ibgp"} })),
			want: map[string][]string{"ebgp": {"203.0.113.10/32 med=100"}, "ibgp": {"203.0.113.10/32 med=200"}},
		},
		{
			name: "advertisements disagreeing about MED for different prefixes do not conflict",
			in: input([]Service{web, svc("db", "red", "198.51.100.1")},
				adv("a", func(a *Advertisement) { a.MED, a.Pools = ptr[uint32](100), []string{"blue"} }),
				adv("b", func(a *Advertisement) { a.MED, a.Pools = ptr[uint32](200), []string{"red"} })),
			want: both("198.51.100.1/32 med=200", "203.0.113.10/32 med=100"),
		},
		{
			name: "an advertisement agreeing with one side of a conflict is dropped too, one setting nothing stays",
			in: input([]Service{web},
				adv("a", func(a *Advertisement) { a.MED = ptr[uint32](100) }),
				adv("b", func(a *Advertisement) { a.MED = ptr[uint32](200) }),
				adv("c", func(a *Advertisement) { a.MED = ptr[uint32](100) }),
				adv("d", func(a *Advertisement) { a.Communities = []string{"65000:4"} })),
			want: both("203.0.113.10/32 c=65000:4"),
			wantErr: map[string][]string{
				"a": {`med 100 conflicts with med 200 of advertisement "b"`},
				"b": {`med 200 conflicts with med 100 of advertisement "a"`},
				"c": {`med 100 conflicts with med 200 of advertisement "b"`},
			},
		},
		{
			name: "the longest AS path prepend wins",
			in: input([]Service{web},
				adv("short", func(a *Advertisement) { a.ASPathPrepend = &Prepend{Count: 1, ASN: 64999} }),
				adv("long", func(a *Advertisement) { a.ASPathPrepend = &Prepend{Count: 3, ASN: 65001} })),
			want: both("203.0.113.10/32 prepend=65001,65001,65001"),
		},
		{
			name: "an AS path prepend without ASN repeats the peer's local ASN",
			in: with(input([]Service{web6}, adv("p", func(a *Advertisement) { a.ASPathPrepend = &Prepend{Count: 2} })),
				func(in *Input) { in.Peers[1].LocalASN, in.Peers[1].PeerASN = 65010, 65010 }),
			want: map[string][]string{
				"ebgp": {"2001:db8:100::10/128 prepend=65000,65000"},
				"ibgp": {"2001:db8:100::10/128 prepend=65010,65010"},
			},
		},
		{
			name: "of equally long AS path prepends the one with the lowest ASN wins",
			in: input([]Service{web},
				adv("a", func(a *Advertisement) { a.ASPathPrepend = &Prepend{Count: 2, ASN: 65001} }),
				adv("b", func(a *Advertisement) { a.ASPathPrepend = &Prepend{Count: 2} })),
			want: both("203.0.113.10/32 prepend=65000,65000"),
		},
		{
			name: "an AS path prepend count of 0 prepends nothing",
			in:   input([]Service{web}, adv("p", func(a *Advertisement) { a.ASPathPrepend = &Prepend{Count: 0, ASN: 65001} })),
			want: both("203.0.113.10/32"),
		},
		{
			name: "an AS path prepend count out of range is an error that quotes it",
			in: input([]Service{web},
				adv("neg", func(a *Advertisement) { a.ASPathPrepend = &Prepend{Count: -1} }),
				adv("big", func(a *Advertisement) { a.ASPathPrepend = &Prepend{Count: 256} })),
			want: both(),
			wantErr: map[string][]string{
				"neg": {"asPathPrepend count -1 is out of range 0 to 255"},
				"big": {"asPathPrepend count 256"},
			},
		},

		// Draining.
		{
			name: "the exclusion label alone changes nothing, because the caller turns it into Drain",
			in: with(input([]Service{web}, all), func(in *Input) {
				in.Node.Labels = map[string]string{"zone": "a", ExcludeLabel: ""}
			}),
			want: both("203.0.113.10/32"),
		},
		{
			name: "a draining node announces its paths with the graceful-shutdown community added to its others, sorted",
			in: drained(input([]Service{web, web6}, adv("c", func(a *Advertisement) {
				a.Communities = []string{"no-export", "65000:1", "1:2:3"}
			})), t0.Add(-10*time.Second), 30*time.Second),
			want: map[string][]string{
				"ebgp": {
					"203.0.113.10/32 c=65000:1,65535:0,65535:65281 lc=1:2:3 draining",
					"2001:db8:100::10/128 c=65000:1,65535:0,65535:65281 lc=1:2:3 draining",
				},
				"ibgp": {
					"203.0.113.10/32 c=65000:1,65535:0,65535:65281 lc=1:2:3 lp=0 draining",
					"2001:db8:100::10/128 c=65000:1,65535:0,65535:65281 lc=1:2:3 lp=0 draining",
				},
			},
			wantNext: t0.Add(20 * time.Second),
		},
		{
			name: "a draining path gets LOCAL_PREF 0 in place of the configured one toward iBGP peers and none toward eBGP peers",
			in: drained(input([]Service{web}, adv("attrs", func(a *Advertisement) {
				a.LocalPref, a.MED, a.ASPathPrepend = ptr[uint32](200), ptr[uint32](10), &Prepend{Count: 1}
			})), t0, time.Minute),
			want: map[string][]string{
				"ebgp": {"203.0.113.10/32 c=65535:0 med=10 prepend=65000 draining"},
				"ibgp": {"203.0.113.10/32 c=65535:0 lp=0 med=10 prepend=65000 draining"},
			},
			wantNext: t0.Add(time.Minute),
		},
		{
			name: "a draining path of several advertisements gets the graceful-shutdown community once, even if one sets it already",
			in: drained(input([]Service{web},
				adv("a", func(a *Advertisement) { a.Communities = []string{"65535:0", "65535:65281"} }),
				adv("b", func(a *Advertisement) { a.Communities = []string{"65000:1", "65535:0"} })), t0, time.Minute),
			want: map[string][]string{
				"ebgp": {"203.0.113.10/32 c=65000:1,65535:0,65535:65281 draining"},
				"ibgp": {"203.0.113.10/32 c=65000:1,65535:0,65535:65281 lp=0 draining"},
			},
			wantNext: t0.Add(time.Minute),
		},
		{
			name: "a draining node withdraws its paths when the drain time is over and keeps its sessions",
			in:   drained(input([]Service{web, web6}, all), t0.Add(-30*time.Second), 30*time.Second),
			want: both(),
		},
		{
			name: "a negative drain time withdraws at once",
			in:   drained(input([]Service{web}, all), t0, -time.Second),
			want: both(),
		},
		{
			name: "each peer's drain time decides how long that peer gets the draining paths",
			in: with(drained(input([]Service{web}, all), t0.Add(-30*time.Second), 0), func(in *Input) {
				in.Peers[0].DrainTime, in.Peers[1].DrainTime = 10*time.Second, time.Minute
			}),
			want:     map[string][]string{"ebgp": {}, "ibgp": {"203.0.113.10/32 c=65535:0 lp=0 draining"}},
			wantNext: t0.Add(30 * time.Second),
		},
		{
			name: "the next change is the earliest drain deadline still to come",
			in: with(drained(input([]Service{web}, all), t0.Add(-30*time.Second), 0), func(in *Input) {
				in.Peers[0].DrainTime, in.Peers[1].DrainTime = 90*time.Second, 40*time.Second
			}),
			want:     map[string][]string{"ebgp": {"203.0.113.10/32 c=65535:0 draining"}, "ibgp": {"203.0.113.10/32 c=65535:0 lp=0 draining"}},
			wantNext: t0.Add(10 * time.Second),
		},
		{
			name: "a drain without a start time starts now",
			in:   drained(input([]Service{web}, all), time.Time{}, 45*time.Second),
			want: map[string][]string{
				"ebgp": {"203.0.113.10/32 c=65535:0 draining"},
				"ibgp": {"203.0.113.10/32 c=65535:0 lp=0 draining"},
			},
			wantNext: t0.Add(45 * time.Second),
		},
		{
			name: "a drain timed after now, by a skewed clock, still drains until its deadline",
			in:   drained(input([]Service{web}, all), t0.Add(time.Second), time.Second),
			want: map[string][]string{
				"ebgp": {"203.0.113.10/32 c=65535:0 draining"},
				"ibgp": {"203.0.113.10/32 c=65535:0 lp=0 draining"},
			},
			wantNext: t0.Add(2 * time.Second),
		},
		{
			name: "a cordoned node drains only the paths of advertisements with DrainOnCordon",
			in: cordoned(input([]Service{web, svc("db", "red", "198.51.100.1")},
				adv("blue", func(a *Advertisement) { a.Pools = []string{"blue"} }),
				adv("red", func(a *Advertisement) { a.Pools, a.DrainOnCordon = []string{"red"}, true })),
				t0.Add(-time.Second), 30*time.Second),
			want: map[string][]string{
				"ebgp": {"198.51.100.1/32 c=65535:0 draining", "203.0.113.10/32"},
				"ibgp": {"198.51.100.1/32 c=65535:0 lp=0 draining", "203.0.113.10/32"},
			},
			wantNext: t0.Add(29 * time.Second),
		},
		{
			name: "a cordoned node drains a prefix toward a peer if one of the advertisements announcing it there has DrainOnCordon",
			in: cordoned(input([]Service{web},
				adv("a", func(a *Advertisement) { a.Communities, a.LocalPref = []string{"65000:1"}, ptr[uint32](300) }),
				adv("b", func(a *Advertisement) { a.Peers, a.DrainOnCordon = []string{"ibgp"}, true })),
				t0, 30*time.Second),
			want: map[string][]string{
				"ebgp": {"203.0.113.10/32 c=65000:1"},
				"ibgp": {"203.0.113.10/32 c=65000:1,65535:0 lp=0 draining"},
			},
			wantNext: t0.Add(30 * time.Second),
		},
		{
			name: "a cordoned node withdraws the paths of advertisements with DrainOnCordon when the drain time is over",
			in: cordoned(input([]Service{web, svc("db", "red", "198.51.100.1")},
				adv("blue", func(a *Advertisement) { a.Pools = []string{"blue"} }),
				adv("red", func(a *Advertisement) { a.Pools, a.DrainOnCordon = []string{"red"}, true })),
				t0.Add(-time.Minute), 30*time.Second),
			want: both("203.0.113.10/32"),
		},
		{
			name: "a cordoned node without advertisements that opt in announces as usual",
			in:   cordoned(input([]Service{web}, adv("a", func(a *Advertisement) { a.LocalPref = ptr[uint32](300) })), t0, 30*time.Second),
			want: map[string][]string{"ebgp": {"203.0.113.10/32"}, "ibgp": {"203.0.113.10/32 lp=300"}},
		},
		{
			name: "a draining node drains every path, whether or not its advertisement has DrainOnCordon",
			in: with(drained(input([]Service{web, svc("db", "red", "198.51.100.1")},
				adv("blue", func(a *Advertisement) { a.Pools = []string{"blue"} }),
				adv("red", func(a *Advertisement) { a.Pools, a.DrainOnCordon = []string{"red"}, true })),
				t0, 30*time.Second), func(in *Input) { in.Node.Cordoned = true }),
			want: map[string][]string{
				"ebgp": {"198.51.100.1/32 c=65535:0 draining", "203.0.113.10/32 c=65535:0 draining"},
				"ibgp": {"198.51.100.1/32 c=65535:0 lp=0 draining", "203.0.113.10/32 c=65535:0 lp=0 draining"},
			},
			wantNext: t0.Add(30 * time.Second),
		},
		{
			name: "a draining node whose network is unavailable announces nothing at once",
			in: with(drained(input([]Service{web}, all), t0, 30*time.Second), func(in *Input) {
				in.Node.NetworkUnavailable = true
			}),
			want: both(),
		},

		// Invalid advertisements.
		{
			name: "a bad community is an error for its advertisement only, which contributes nothing",
			in: input([]Service{web},
				adv("bad", func(a *Advertisement) {
					a.Communities = []string{"65000:1", "65000:x", "1:2:3:4"}
					a.MED = ptr[uint32](5)
				}),
				adv("good", func(a *Advertisement) { a.MED = ptr[uint32](6) })),
			want: both("203.0.113.10/32 med=6"),
			wantErr: map[string][]string{
				"bad": {`community "65000:x"`, `"x" is not a number`, `community "1:2:3:4"`},
			},
		},
		{
			name: "two advertisements with one name are both unused and reported under the name",
			in: input([]Service{web},
				adv("twice", func(a *Advertisement) { a.Communities = []string{"65000:1"} }),
				adv("twice", func(a *Advertisement) { a.Communities = []string{"65000:2"} })),
			want:    both(),
			wantErr: map[string][]string{"twice": {`2 advertisements are named "twice"`}},
		},
		{
			name: "an invalid advertisement is reported on a node whose network is unavailable too",
			in: with(input([]Service{web}, adv("bad", func(a *Advertisement) { a.Communities = []string{"65536:1"} })),
				func(in *Input) { in.Node.NetworkUnavailable = true }),
			want:    both(),
			wantErr: map[string][]string{"bad": {`community "65536:1"`}},
		},
		{
			name:    "an invalid advertisement is reported on a node without sessions too",
			in:      with(input([]Service{web}, adv("bad", func(a *Advertisement) { a.Communities = []string{""} })), func(in *Input) { in.Peers = nil }),
			want:    map[string][]string{},
			wantErr: map[string][]string{"bad": {`community ""`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Compute(tt.in)
			checkSessions(t, res, tt.want)
			checkErrors(t, res, tt.wantErr)
			if !res.NextChange.Equal(tt.wantNext) {
				t.Errorf("NextChange = %v, want %v", res.NextChange, tt.wantNext)
			}
		})
	}
}

// TestComputeErrorKinds checks that errors tell invalid advertisements and
// conflicts apart.
func TestComputeErrorKinds(t *testing.T) {
	res := Compute(input([]Service{svc("web", "blue", "203.0.113.10")},
		Advertisement{Name: "bad", Communities: []string{"nope"}},
		Advertisement{Name: "a", MED: ptr[uint32](1)},
		Advertisement{Name: "b", MED: ptr[uint32](2)},
	))
	if err := res.Errors["bad"]; !errors.Is(err, ErrInvalidAdvertisement) {
		t.Errorf("error for a bad community is %v, want one wrapping ErrInvalidAdvertisement", err)
	}
	for _, name := range []string{"a", "b"} {
		if err := res.Errors[name]; !errors.Is(err, ErrConflict) {
			t.Errorf("error for %q is %v, want one wrapping ErrConflict", name, err)
		}
	}
}

// TestComputeIgnoresInputOrder shuffles every slice of an input with
// several advertisements, Services and conflicts, on a node as usual and
// on a cordoned one, and expects the same result each time.
func TestComputeIgnoresInputOrder(t *testing.T) {
	usual := input([]Service{
		svc("a", "blue", "203.0.113.10", "2001:db8:100::10"),
		svc("b", "blue", "203.0.113.20"),
		svc("c", "red", "198.51.100.1", "2001:db8:100::1:1"),
		local(svc("d", "red", "198.51.100.2"), ready(node)),
	},
		Advertisement{Name: "agg", AggregationLength: ptr(24), AggregationLengthV6: ptr(64), Communities: []string{"65000:1"}, MED: ptr[uint32](5)},
		Advertisement{Name: "host", Communities: []string{"65000:2", "1:2:3"}, ASPathPrepend: &Prepend{Count: 1}},
		Advertisement{Name: "red-a", Pools: []string{"red"}, MED: ptr[uint32](1)},
		Advertisement{Name: "red-b", Pools: []string{"red"}, MED: ptr[uint32](2)},
		Advertisement{Name: "ibgp-only", Peers: []string{"ibgp"}, LocalPref: ptr[uint32](300), ASPathPrepend: &Prepend{Count: 2, ASN: 65001}, DrainOnCordon: true},
	)
	drain := cordoned(usual, t0, time.Minute)
	if Compute(drain).NextChange.IsZero() {
		t.Fatal("the cordoned input drains no path")
	}
	for _, in := range []Input{usual, drain} {
		checkIgnoresOrder(t, in)
	}
}

func checkIgnoresOrder(t *testing.T, in Input) {
	t.Helper()
	want := Compute(in)
	if len(want.Errors) != 2 || len(want.Sessions["ibgp"]) == 0 {
		t.Fatalf("the input does not exercise conflicts and paths: %v, %v", want.Errors, describeSessions(want.Sessions))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		shuffled := in
		shuffled.Services = shuffle(r, in.Services)
		shuffled.Advertisements = shuffle(r, in.Advertisements)
		shuffled.Peers = shuffle(r, in.Peers)
		shuffled.Pools = shuffle(r, in.Pools)
		for j := range shuffled.Services {
			shuffled.Services[j].Addrs = shuffle(r, shuffled.Services[j].Addrs)
		}
		got := Compute(shuffled)
		if !got.NextChange.Equal(want.NextChange) {
			t.Fatalf("shuffle %d: NextChange %v, want %v", i, got.NextChange, want.NextChange)
		}
		if !reflect.DeepEqual(describeSessions(got.Sessions), describeSessions(want.Sessions)) {
			t.Fatalf("shuffle %d: sessions %v, want %v", i, describeSessions(got.Sessions), describeSessions(want.Sessions))
		}
		for name, err := range want.Errors {
			if got.Errors[name] == nil || got.Errors[name].Error() != err.Error() {
				t.Fatalf("shuffle %d: error for %q is %v, want %v", i, name, got.Errors[name], err)
			}
		}
	}
}

func shuffle[T any](r *rand.Rand, s []T) []T {
	s = append([]T(nil), s...)
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

// TestComputeOutputIsNotShared checks that changing a returned path changes
// neither the input nor another path.
func TestComputeOutputIsNotShared(t *testing.T) {
	ad := Advertisement{Name: "a", Communities: []string{"65000:1"}, LocalPref: ptr[uint32](10), MED: ptr[uint32](20)}
	res := Compute(input([]Service{svc("a", "blue", "203.0.113.10"), svc("b", "blue", "203.0.113.20")}, ad))
	paths := res.Sessions["ibgp"]
	if len(paths) != 2 {
		t.Fatalf("got %d paths, want 2", len(paths))
	}
	paths[0].Communities[0].Value = 99
	*paths[0].LocalPref, *paths[0].MED = 99, 99
	if got := describe(paths[1]); got != "203.0.113.20/32 c=65000:1 lp=10 med=20" {
		t.Errorf("second path changed with the first: %s", got)
	}
	if *ad.LocalPref != 10 || *ad.MED != 20 {
		t.Errorf("the advertisement changed with a path: localPref %d, MED %d", *ad.LocalPref, *ad.MED)
	}

	res = Compute(drained(input([]Service{svc("a", "blue", "203.0.113.10"), svc("b", "blue", "203.0.113.20")}, ad), t0, time.Minute))
	paths = res.Sessions["ibgp"]
	if len(paths) != 2 {
		t.Fatalf("got %d draining paths, want 2", len(paths))
	}
	paths[0].Communities[1].Value = 99
	paths[0].Communities = append(paths[0].Communities, Community{1, 1})
	*paths[0].LocalPref, *paths[0].MED = 99, 99
	if got := describe(paths[1]); got != "203.0.113.20/32 c=65000:1,65535:0 lp=0 med=20 draining" {
		t.Errorf("second draining path changed with the first: %s", got)
	}
	if GracefulShutdown != (Community{65535, 0}) {
		t.Errorf("GracefulShutdown changed with a path: %v", GracefulShutdown)
	}
}

func TestPeerIBGP(t *testing.T) {
	if !ibgp.IBGP() {
		t.Errorf("peer with equal ASNs is not iBGP")
	}
	if ebgp.IBGP() {
		t.Errorf("peer with different ASNs is iBGP")
	}
}

func TestPathEqual(t *testing.T) {
	base := Path{
		Prefix:           netip.MustParsePrefix("203.0.113.0/24"),
		Communities:      []Community{{65000, 1}},
		LargeCommunities: []LargeCommunity{{1, 2, 3}},
		LocalPref:        ptr[uint32](100),
		MED:              ptr[uint32](5),
		ASPathPrepend:    []uint32{65000},
	}
	tests := []struct {
		name  string
		other Path
		want  bool
	}{
		{"a path equals a copy with its own pointers", with(base, func(p *Path) { p.LocalPref, p.MED = ptr[uint32](100), ptr[uint32](5) }), true},
		{"a path without attributes differs", with(Path{Prefix: base.Prefix}, func(p *Path) {
			p.Communities, p.LargeCommunities, p.ASPathPrepend = []Community{}, []LargeCommunity{}, []uint32{}
		}), false},
		{"another prefix differs", with(base, func(p *Path) { p.Prefix = netip.MustParsePrefix("203.0.113.0/25") }), false},
		{"another community differs", with(base, func(p *Path) { p.Communities = []Community{{65000, 2}} }), false},
		{"another large community differs", with(base, func(p *Path) { p.LargeCommunities = nil }), false},
		{"a missing LocalPref differs", with(base, func(p *Path) { p.LocalPref = nil }), false},
		{"another MED differs", with(base, func(p *Path) { p.MED = ptr[uint32](6) }), false},
		{"a longer prepend differs", with(base, func(p *Path) { p.ASPathPrepend = []uint32{65000, 65000} }), false},
		{"a draining path differs", with(base, func(p *Path) { p.Draining = true }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := base.Equal(tt.other); got != tt.want {
				t.Errorf("Equal = %v, want %v", got, tt.want)
			}
			if got := tt.other.Equal(base); got != tt.want {
				t.Errorf("Equal reversed = %v, want %v", got, tt.want)
			}
		})
	}
	bare := Path{Prefix: base.Prefix}
	if !bare.Equal(Path{Prefix: base.Prefix, Communities: []Community{}, LargeCommunities: []LargeCommunity{}, ASPathPrepend: []uint32{}}) {
		t.Errorf("a path with nil slices does not equal one with empty slices")
	}
}

func TestParseCommunity(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantStd   string
		wantLarge string
		wantErr   string
	}{
		{name: "two numbers are a standard community", in: "65000:100", wantStd: "65000:100"},
		{name: "the smallest standard community is 0:0", in: "0:0", wantStd: "0:0"},
		{name: "the largest standard community is 65535:65535", in: "65535:65535", wantStd: "65535:65535"},
		{name: "leading zeros are allowed", in: "065000:0100", wantStd: "65000:100"},
		{name: "no-export is 65535:65281", in: "no-export", wantStd: "65535:65281"},
		{name: "no-advertise is 65535:65282", in: "no-advertise", wantStd: "65535:65282"},
		{name: "no-export-subconfed is 65535:65283", in: "no-export-subconfed", wantStd: "65535:65283"},
		{name: "no-peer is 65535:65284", in: "no-peer", wantStd: "65535:65284"},
		{name: "three numbers are a large community", in: "4200000000:1:2", wantLarge: "4200000000:1:2"},
		{name: "the largest large community has three 32-bit maxima", in: "4294967295:4294967295:4294967295", wantLarge: "4294967295:4294967295:4294967295"},
		{name: "a small large community stays large", in: "0:0:0", wantLarge: "0:0:0"},

		{name: "an empty string is an error", in: "", wantErr: `community ""`},
		{name: "one number is an error", in: "65000", wantErr: `community "65000": want a:b`},
		{name: "four numbers are an error", in: "1:2:3:4", wantErr: `community "1:2:3:4": want a:b`},
		{name: "an ASN over 65535 in a standard community is an error that suggests the large form", in: "4200000000:1",
			wantErr: `community "4200000000:1": "4200000000" is not a number from 0 to 65535; use global:local1:local2`},
		{name: "a value over 65535 is an error", in: "65000:65536", wantErr: `community "65000:65536": "65536" is not a number from 0 to 65535`},
		{name: "a number over 32 bits in a large community is an error", in: "4294967296:1:1", wantErr: `"4294967296" is not a number from 0 to 4294967295`},
		{name: "a negative number is an error", in: "-1:1", wantErr: `"-1" is not a number`},
		{name: "a plus sign is an error", in: "+1:1", wantErr: `"+1" is not a number`},
		{name: "a hexadecimal number is an error", in: "0x10:1", wantErr: `"0x10" is not a number`},
		{name: "a missing number is an error", in: "65000:", wantErr: `community "65000:": "" is not a number`},
		{name: "a missing middle number of a large community is an error", in: "1::2", wantErr: `"" is not a number`},
		{name: "spaces are an error", in: " 65000:1", wantErr: `community " 65000:1"`},
		{name: "well-known names are lower case", in: "No-Export", wantErr: `community "No-Export"`},
		{name: "an unknown name is an error", in: "no-exports", wantErr: `community "no-exports"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			std, large, err := ParseCommunity(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCommunity(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				if !errors.Is(err, ErrInvalidCommunity) {
					t.Errorf("error %q does not wrap ErrInvalidCommunity", err)
				}
				if std != nil || large != nil {
					t.Errorf("ParseCommunity(%q) returned %v, %v with an error", tt.in, std, large)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCommunity(%q): %v", tt.in, err)
			}
			switch {
			case tt.wantStd != "" && (std == nil || large != nil || std.String() != tt.wantStd):
				t.Errorf("ParseCommunity(%q) = %v, %v, want standard %s", tt.in, std, large, tt.wantStd)
			case tt.wantLarge != "" && (large == nil || std != nil || large.String() != tt.wantLarge):
				t.Errorf("ParseCommunity(%q) = %v, %v, want large %s", tt.in, std, large, tt.wantLarge)
			}
		})
	}
}

// TestCommunityStringParsesBack checks that String writes what
// ParseCommunity reads, for both kinds.
func TestCommunityStringParsesBack(t *testing.T) {
	for _, c := range []Community{{0, 0}, {65000, 100}, {65535, 65281}} {
		std, _, err := ParseCommunity(c.String())
		if err != nil || std == nil || *std != c {
			t.Errorf("ParseCommunity(%q) = %v, %v; want %v", c.String(), std, err, c)
		}
	}
	for _, c := range []LargeCommunity{{0, 0, 0}, {4200000000, 1, 2}} {
		_, large, err := ParseCommunity(c.String())
		if err != nil || large == nil || *large != c {
			t.Errorf("ParseCommunity(%q) = %v, %v; want %v", c.String(), large, err, c)
		}
	}
}
