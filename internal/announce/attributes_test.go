package announce

import (
	"testing"
)

// TestComputeMergesAttributes checks that a path carries the attributes of every
// advertisement announcing its prefix to that peer, LOCAL_PREF only toward
// iBGP peers.
func TestComputeMergesAttributes(t *testing.T) {
	t.Parallel()
	runComputeCases(t, []computeCase{
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
	})
}

// TestComputeDropsConflictingAdvertisements checks that advertisements that give one prefix
// different LOCAL_PREF or MED values toward one peer are errors and
// contribute nothing anywhere.
func TestComputeDropsConflictingAdvertisements(t *testing.T) {
	t.Parallel()
	runComputeCases(t, []computeCase{
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
	})
}

// TestComputePrependsTheASPath checks that of several AS path prepends the longest wins,
// then the one with the lowest ASN.
func TestComputePrependsTheASPath(t *testing.T) {
	t.Parallel()
	runComputeCases(t, []computeCase{
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
	})
}
