package announce

import (
	"testing"
	"time"
)

// TestComputeMarksDrainingPaths checks that a draining node announces its paths with the
// graceful-shutdown community and, toward iBGP peers, LOCAL_PREF 0; the
// exclusion label alone drains nothing.
func TestComputeMarksDrainingPaths(t *testing.T) {
	t.Parallel()
	runComputeCases(t, []computeCase{
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
	})
}

// TestComputeWithdrawsWhenTheDrainTimeIsOver checks that a draining path is announced until
// DrainSince plus the peer's drain time, and NextChange says when that is.
func TestComputeWithdrawsWhenTheDrainTimeIsOver(t *testing.T) {
	t.Parallel()
	runComputeCases(t, []computeCase{
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
			name: "a draining node whose network is unavailable announces nothing at once",
			in: with(drained(input([]Service{web}, all), t0, 30*time.Second), func(in *Input) {
				in.Node.NetworkUnavailable = true
			}),
			want: both(),
		},
	})
}

// TestComputeDrainsOnCordon checks that a cordoned node drains the paths of the
// advertisements with DrainOnCordon only, and Node.Drain drains every path.
func TestComputeDrainsOnCordon(t *testing.T) {
	t.Parallel()
	runComputeCases(t, []computeCase{
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
	})
}
