package announce

import (
	"testing"
)

// TestComputeSessions checks that the node has a session with every peer whose node
// selectors match it, and keeps it while it announces nothing.
func TestComputeSessions(t *testing.T) {
	t.Parallel()
	runComputeCases(t, []computeCase{
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
	})
}

func TestPeerIBGP(t *testing.T) {
	t.Parallel()
	if !ibgp.IBGP() {
		t.Errorf("peer with equal ASNs is not iBGP")
	}
	if ebgp.IBGP() {
		t.Errorf("peer with different ASNs is iBGP")
	}
}
