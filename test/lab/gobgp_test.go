package lab

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseGoBGPNeighboursFindsEstablishedSessions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file string
		want []GoBGPNeighbour
	}{
		{"gobgp-neighbor.json", []GoBGPNeighbour{{"198.18.0.10", true}, {"198.18.0.11", true}, {"198.18.0.12", true}}},
		// node-2's speaker killed: gobgpd keeps the dynamic neighbour,
		// no longer Established, while it helps it restart.
		{"gobgp-neighbor-restarting.json", []GoBGPNeighbour{{"198.18.0.10", true}, {"198.18.0.11", true}, {"198.18.0.12", false}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := parseGoBGPNeighbours(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	got, err := parseGoBGPNeighbours("[]")
	if err != nil || len(got) != 0 {
		t.Errorf("no neighbours: got %+v, %v", got, err)
	}
	if _, err := parseGoBGPNeighbours("Peer AS Up/Down"); err == nil || !strings.Contains(err.Error(), "Peer AS Up/Down") {
		t.Errorf("text instead of JSON: error %v, want one quoting it", err)
	}
}

// pathSummary is what the tests compare of a path.
func pathSummary(p gobgpPath) string {
	s := p.NextHop + " [" + p.ASPath + "] " + p.Communities + " | " + p.LargeCommunities
	if p.LocalPref != nil {
		s += " lp=" + strconv.Itoa(*p.LocalPref)
	}
	if p.MED != nil {
		s += " med=" + strconv.Itoa(*p.MED)
	}
	if p.Multipath {
		s += " multipath"
	}
	if p.stale {
		s += " stale"
	}
	return s
}

func TestParseGoBGPRIBAndItsMultipathSet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file   string
		prefix string
		want   []string
	}{
		// node-1 drained: its path carries graceful-shutdown, gets the
		// router's lowered LOCAL_PREF and leaves the multipath set.
		{"gobgp-rib-ipv4.json", "203.0.113.1/32", []string{
			"198.18.0.10 [64512 64512] 64512:100 | 64512:4200000000:7 med=50 multipath",
			"198.18.0.12 [64512 64512] 64512:100 | 64512:4200000000:7 med=50 multipath",
			"198.18.0.11 [64512 64512] 64512:100 graceful-shutdown | 64512:4200000000:7 lp=1 med=50",
		}},
		{"gobgp-rib-ipv6.json", "2001:db8:100::/128", []string{
			"2001:db8:1::10 [64512 64512] 64512:100 | 64512:4200000000:7 med=50 multipath",
			"2001:db8:1::12 [64512 64512] 64512:100 | 64512:4200000000:7 med=50 multipath",
			"2001:db8:1::11 [64512 64512] 64512:100 graceful-shutdown | 64512:4200000000:7 lp=1 med=50",
		}},
		// Then node-2's speaker killed: its path stays, stale, and in the
		// multipath set, as graceful restart wants.
		{"gobgp-rib-ipv4-stale.json", "203.0.113.1/32", []string{
			"198.18.0.10 [64512 64512] 64512:100 | 64512:4200000000:7 med=50 multipath",
			"198.18.0.12 [64512 64512] 64512:100 | 64512:4200000000:7 med=50 multipath stale",
			"198.18.0.11 [64512 64512] 64512:100 graceful-shutdown | 64512:4200000000:7 lp=1 med=50",
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rib, err := parseGoBGPRIB(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(rib) != 1 {
				t.Errorf("%d prefixes, want 1: %v", len(rib), rib)
			}
			paths := rib[netip.MustParsePrefix(tc.prefix)]
			multi := gobgpMultipath(paths)
			var got []string
			for _, p := range paths {
				got = append(got, pathSummary(p))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("paths:\n got %q\nwant %q", got, tc.want)
			}
			if hops := fibNextHops(multi); len(hops) != 2 || hops[0] >= hops[1] {
				t.Errorf("FIB next hops %v, want the two multipath ones, sorted", hops)
			}
		})
	}
}
