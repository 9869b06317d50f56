package lab

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The testdata files are real output of BIRD 2.0.12 and gobgp 3.10.0
// (Debian 12) in a lab with bgplb's speakers, captured with the router's
// CLI as the lab runs it ("show protocols all" without birdc's greeting
// line, which Birdc removes).

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestParseBIRDProtocolsFindsEveryBGPNeighbour(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file string
		// want is each BGP protocol as name=state/info/neighbour/range.
		want []string
	}{
		{"bird-protocols-static.txt", []string{
			"node0=up/Established/198.18.0.10/", "node1=up/Established/198.18.0.11/", "node2=up/Established/198.18.0.12/"}},
		{"bird-protocols-dynamic.txt", []string{
			"nodes_range=start/Passive//198.18.0.0/24",
			"peer1=up/Established/198.18.0.12/", "peer2=up/Established/198.18.0.10/", "peer3=up/Established/198.18.0.11/"}},
		// node-2's speaker killed: its protocol waits, with the node's
		// paths kept as stale, for the speaker to come back.
		{"bird-protocols-dynamic-restarting.txt", []string{
			"nodes_range=start/Passive//198.18.0.0/24",
			"peer1=start/Passive Socket: Connection closed/198.18.0.12/",
			"peer2=up/Established/198.18.0.10/", "peer3=up/Established/198.18.0.11/"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			protocols, err := parseBIRDProtocols(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range protocols {
				if p.Proto == "BGP" {
					got = append(got, p.Name+"="+p.State+"/"+p.Info+"/"+p.Neighbour+"/"+p.Range)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("BGP protocols:\n got %q\nwant %q", got, tc.want)
			}
			if len(protocols) != len(tc.want)+3 {
				t.Errorf("%d protocols, want the BGP ones and device1, kernel4, kernel6", len(protocols))
			}
		})
	}
}

func TestParseBIRDProtocolsQuotesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"  Neighbor address: 198.18.0.10\n", "peer1 BGP\n"} {
		_, err := parseBIRDProtocols(bad)
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(bad)) {
			t.Errorf("parse %q: error %v, want one quoting the line", bad, err)
		}
	}
}

// bird-bfd-sessions.txt joins lines of two captures: a session up with
// the lab's 3 x 100 ms timers, and one down while its node was away.
func TestParseBIRDBFDSessionsReadsStateAndNegotiatedTimers(t *testing.T) {
	t.Parallel()
	got, err := parseBIRDBFDSessions(readTestdata(t, "bird-bfd-sessions.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := []BFDSession{
		{Peer: "198.18.0.10", Up: true, TransmitInterval: 100 * time.Millisecond, DetectionTime: 300 * time.Millisecond},
		{Peer: "198.18.0.11", Up: false, TransmitInterval: time.Second, DetectionTime: 0},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestParseBIRDBFDSessionsQuotesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	for _, out := range []string{
		"bfd1:\n198.18.0.10 lan Up\n",
		"bfd1:\n198.18.0.10 lan Up 14:28:58.263 fast 0.300\n",
	} {
		_, err := parseBIRDBFDSessions(out)
		if err == nil || !strings.Contains(err.Error(), "198.18.0.10 lan Up") {
			t.Errorf("parse %q: error %v, want one quoting the line", out, err)
		}
	}
	if got, err := parseBIRDBFDSessions("bfd1:\nIP address                Interface  State      Since         Interval  Timeout\n"); err != nil || len(got) != 0 {
		t.Errorf("no sessions: got %+v, %v", got, err)
	}
}
