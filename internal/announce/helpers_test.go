package announce

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/bgp"
)

// labelsMatch is a tiny LabelMatcher for tests: it matches labels that
// contain every key/value pair of the map.
type labelsMatch map[string]string

func (m labelsMatch) Matches(labels map[string]string) bool {
	for k, v := range m {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// with returns v changed by f, so table entries can be written as small
// edits of a base value.
func with[T any](v T, f func(*T)) T {
	f(&v)
	return v
}

func ptr[T any](v T) *T { return &v }

func addrs(ss ...string) []netip.Addr {
	as := make([]netip.Addr, len(ss))
	for i, s := range ss {
		as[i] = netip.MustParseAddr(s)
	}
	return as
}

// The node the tests compute for, and the peers it usually has.
const node = "n1"

var (
	ebgp = Peer{Name: "ebgp", LocalASN: 65000, PeerASN: 65100}
	ibgp = Peer{Name: "ibgp", LocalASN: 65000, PeerASN: 65000}
)

// t0 is the time drain tests compute at.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// drained returns in computed at t0 for a node that drains since since
// (zero for a drain the caller has not timed), with drain time d toward
// every peer.
func drained(in Input, since time.Time, d time.Duration) Input {
	in.Node.Drain, in.Node.DrainSince, in.Now = true, since, t0
	return drainTime(in, d)
}

// cordoned returns in computed at t0 for a cordoned node, with DrainSince
// since and drain time d toward every peer.
func cordoned(in Input, since time.Time, d time.Duration) Input {
	in.Node.Cordoned, in.Node.DrainSince, in.Now = true, since, t0
	return drainTime(in, d)
}

// drainTime sets the drain time of every peer of in to d, without
// changing the peers of other inputs.
func drainTime(in Input, d time.Duration) Input {
	in.Peers = slices.Clone(in.Peers)
	for i := range in.Peers {
		in.Peers[i].DrainTime = d
	}
	return in
}

// ready is a ready endpoint on the given node.
func ready(node string) Endpoint { return Endpoint{Node: node, Ready: true, Serving: true} }

// serving is an endpoint that still serves while it terminates.
func serving(node string) Endpoint { return Endpoint{Node: node, Serving: true, Terminating: true} }

// notReady is an endpoint that neither is ready nor serves.
func notReady(node string) Endpoint { return Endpoint{Node: node} }

// svc returns a Cluster Service in pool with one ready endpoint on the
// test node.
func svc(name, pool string, as ...string) Service {
	return Service{Key: "default/" + name, Pool: pool, Addrs: addrs(as...), Endpoints: []Endpoint{ready(node)}}
}

// local returns s with externalTrafficPolicy Local and the given endpoints.
func local(s Service, eps ...Endpoint) Service {
	s.Local, s.Endpoints = true, eps
	return s
}

// input returns the usual input: the test node with label zone=a, both
// peers, pools "blue" and "red", and the given Services and
// advertisements.
func input(services []Service, ads ...Advertisement) Input {
	return Input{
		Node:     Node{Name: node, Labels: map[string]string{"zone": "a"}},
		Services: services,
		Pools: []Pool{
			{Name: "blue", Labels: map[string]string{"color": "blue"}},
			{Name: "red", Labels: map[string]string{"color": "red"}},
		},
		Advertisements: ads,
		Peers:          []Peer{ebgp, ibgp},
	}
}

// both maps both usual peers to the same paths.
func both(paths ...string) map[string][]string {
	return map[string][]string{"ebgp": paths, "ibgp": paths}
}

// describe writes a path compactly, for example
// "203.0.113.0/24 c=65000:1 lc=1:2:3 lp=100 med=5 prepend=65000,65000",
// followed by " draining" if draining is set.
func describe(p bgp.Path, draining bool) string {
	var b strings.Builder
	b.WriteString(p.Prefix.String())
	if len(p.Communities) > 0 {
		b.WriteString(" c=" + joinStrings(communitiesOf(p.Communities)))
	}
	if len(p.LargeCommunities) > 0 {
		b.WriteString(" lc=" + joinStrings(p.LargeCommunities))
	}
	if p.LocalPref != nil {
		fmt.Fprintf(&b, " lp=%d", *p.LocalPref)
	}
	if p.MED != nil {
		fmt.Fprintf(&b, " med=%d", *p.MED)
	}
	if len(p.ASPathPrepend) > 0 {
		b.WriteString(" prepend=" + strings.Trim(strings.ReplaceAll(fmt.Sprint(p.ASPathPrepend), " ", ","), "[]"))
	}
	if draining {
		b.WriteString(" draining")
	}
	return b.String()
}

// communitiesOf turns communities as a path carries them back into
// Community values, the inverse of Community.Uint32.
func communitiesOf(wire []uint32) []Community {
	out := make([]Community, len(wire))
	for i, c := range wire {
		out[i] = Community{ASN: uint16(c >> 16), Value: uint16(c)}
	}
	return out
}

func joinStrings[T fmt.Stringer](vs []T) string {
	ss := make([]string, len(vs))
	for i, v := range vs {
		ss[i] = v.String()
	}
	return strings.Join(ss, ",")
}

// describePath describes the path at index i of peer's session in res,
// marked if res lists it as draining.
func describePath(res Result, peer string, i int) string {
	p := res.Sessions[peer][i]
	return describe(p, slices.Contains(res.DrainingPaths[peer], p.Prefix))
}

// describeSessions writes every session's paths with describe. A prefix
// that DrainingPaths lists for a peer without a path of it is written
// as " draining" alone, so that the check sees it.
func describeSessions(res Result) map[string][]string {
	out := make(map[string][]string, len(res.Sessions))
	for peer, paths := range res.Sessions {
		ds := make([]string, len(paths))
		for i := range paths {
			ds[i] = describePath(res, peer, i)
		}
		out[peer] = ds
	}
	for peer, prefixes := range res.DrainingPaths {
		for _, prefix := range prefixes {
			if !slices.ContainsFunc(res.Sessions[peer], func(p bgp.Path) bool { return p.Prefix == prefix }) {
				out[peer] = append(out[peer], prefix.String()+" draining, without a path")
			}
		}
	}
	return out
}

// checkSessions compares the sessions of res with want, where a peer
// mapped to no paths must be present with an empty, non-nil slice.
func checkSessions(t *testing.T, res Result, want map[string][]string) {
	t.Helper()
	if res.DrainingPaths == nil {
		t.Error("DrainingPaths is nil, want a map")
	}
	got := describeSessions(res)
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Errorf("sessions with %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for _, peer := range slices.Sorted(maps.Keys(want)) {
		if paths, ok := res.Sessions[peer]; ok && paths == nil {
			t.Errorf("session %q has a nil path list, want an empty one", peer)
		}
		if g, w := got[peer], want[peer]; !slices.Equal(g, w) {
			t.Errorf("paths to %q:\n got  %q\n want %q", peer, g, w)
		}
	}
}

// checkErrors checks that exactly the advertisements named in want have
// errors, each containing every wanted substring.
func checkErrors(t *testing.T, res Result, want map[string][]string) {
	t.Helper()
	if res.Errors == nil {
		t.Fatal("Errors is nil, want a map")
	}
	for name, err := range res.Errors {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected error for advertisement %q: %v", name, err)
		}
	}
	for name, subs := range want {
		err := res.Errors[name]
		if err == nil {
			t.Errorf("no error for advertisement %q, want one containing %q", name, subs)
			continue
		}
		for _, s := range subs {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error for %q is %q, which does not contain %q", name, err, s)
			}
		}
	}
}

// The Services and the advertisement most Compute cases start from.
var (
	all  = Advertisement{Name: "all"}
	web  = svc("web", "blue", "203.0.113.10")
	web6 = svc("web6", "blue", "2001:db8:100::10")
)

// adv returns an advertisement named name, changed by f.
func adv(name string, f func(*Advertisement)) Advertisement {
	return with(Advertisement{Name: name}, f)
}

// computeCase is one Compute case: the input and what the Result must
// hold.
type computeCase struct {
	name     string
	in       Input
	want     map[string][]string // peer to described paths
	wantErr  map[string][]string // advertisement to substrings of its error
	wantNext time.Time           // Result.NextChange
}

// runComputeCases runs each case as a parallel subtest; Compute changes
// nothing it is given, so the cases share nothing that is written.
func runComputeCases(t *testing.T, tests []computeCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := Compute(tt.in)
			checkSessions(t, res, tt.want)
			checkErrors(t, res, tt.wantErr)
			if !res.NextChange.Equal(tt.wantNext) {
				t.Errorf("NextChange = %v, want %v", res.NextChange, tt.wantNext)
			}
		})
	}
}
