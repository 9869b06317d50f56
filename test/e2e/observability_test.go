package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/testpoll"
	"github.com/bgplb/bgplb/test/lab"
)

// statusReport is the part of `bgplbctl status -o json` these tests read.
type statusReport struct {
	Sessions []struct {
		Node, Peer, State string
		Established       bool
		BFD               string
	}
	Services []struct {
		Name        string
		AnnouncedBy []string
		Addresses   []string
	}
}

func bgplbctlStatus(t *testing.T, l *lab.Lab) statusReport {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "bgplbctl"), "status", "-o", "json", "--kubeconfig", l.Kubeconfig).Output()
	if err != nil {
		t.Fatalf("bgplbctl status: %v\n%s", err, out)
	}
	var r statusReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("bgplbctl status -o json: %v\n%s", err, out)
	}
	return r
}

func (r statusReport) session(node string) string {
	for _, s := range r.Sessions {
		if s.Node == node {
			return s.State
		}
	}
	return ""
}

func (r statusReport) announcers(service string) []string {
	for _, s := range r.Services {
		if s.Name == service {
			return s.AnnouncedBy
		}
	}
	return nil
}

func nodeSession(t *testing.T, l *lab.Lab, node string) (v1alpha1.PeerSession, bool) {
	t.Helper()
	var st v1alpha1.BGPNodeStatus
	if err := l.Client.Get(context.Background(), client.ObjectKey{Name: node}, &st); err != nil {
		return v1alpha1.PeerSession{}, false
	}
	for _, s := range st.Status.Sessions {
		if s.Peer == "router" {
			return s, true
		}
	}
	return v1alpha1.PeerSession{}, false
}

// An operator sees a session the router shut down, within seconds, in the
// node's status object, in its speaker's metrics and in bgplbctl status;
// and sees exactly the nodes with endpoints announce a Local Service.
func TestSessionsAndAnnouncersShowInStatusMetricsAndBgplbctl(t *testing.T) {
	// The router shuts one neighbour down by its address, which needs it
	// configured as a static neighbour.
	l := startLabWith(t, lab.Config{Nodes: 3, BFD: true, Neighbours: lab.StaticNeighbours})
	createFastBFDProfile(t, l)
	peer := routerPeer(l)
	peer.Spec.BFDProfile = "fast"
	configurePeer(t, l, v1alpha1.BGPAdvertisementSpec{}, peer)
	svc := createService(t, l, "observed", true)
	if err := l.SetEndpoints(context.Background(), svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}, "node-2": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addr := serviceAddrs(t, l, svc, 1)[0]
	waitForNextHops(t, l, addr, "node-0", "node-2")
	key := svc.Namespace + "/" + svc.Name
	victim := l.Nodes[1]

	testpoll.Until(t, 30*time.Second, "every session Established with BFD up in the status objects", func() (bool, string) {
		var seen []string
		for _, n := range l.Nodes {
			s, ok := nodeSession(t, l, n.Name)
			seen = append(seen, fmt.Sprintf("%s=%s/%s", n.Name, s.State, s.BFD))
			if !ok || s.State != "Established" || s.BFD != "Up" {
				return false, fmt.Sprint(seen)
			}
		}
		return true, ""
	})
	report := bgplbctlStatus(t, l)
	if got := report.announcers(key); !slices.Equal(got, []string{"node-0", "node-2"}) {
		t.Errorf("bgplbctl status lists %v announcing the Local Service, want exactly the nodes with endpoints [node-0 node-2]", got)
	}
	m, err := l.ScrapeSpeaker(victim)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := m.Value("bgplb_speaker_session_up", map[string]string{"peer": "router"}); !ok || v != 1 {
		t.Errorf("%s: session_up = %v (present: %v), want 1", victim.Name, v, ok)
	}
	if v, ok := m.Value("bgplb_speaker_bfd_up", map[string]string{"peer": "router"}); !ok || v != 1 {
		t.Errorf("%s: bfd_up = %v (present: %v), want 1", victim.Name, v, ok)
	}

	// The router shuts its session to one node down.
	frr := l.Router.(*lab.FRR)
	if _, err := frr.Vtysh(fmt.Sprintf("configure terminal\nrouter bgp %d\nneighbor %s shutdown", lab.RouterASN, victim.Addr4)); err != nil {
		t.Fatal(err)
	}
	shutAt := time.Now()
	testpoll.Until(t, 10*time.Second, victim.Name+"'s session not Established in its status object", func() (bool, string) {
		s, ok := nodeSession(t, l, victim.Name)
		return ok && s.State != "Established", fmt.Sprintf("%+v", s)
	})
	inStatus := time.Since(shutAt)
	testpoll.Until(t, 10*time.Second, victim.Name+"'s session_up metric at 0", func() (bool, string) {
		m, err := l.ScrapeSpeaker(victim)
		if err != nil {
			return false, err.Error()
		}
		v, ok := m.Value("bgplb_speaker_session_up", map[string]string{"peer": "router"})
		return ok && v == 0, fmt.Sprint(v, ok)
	})
	testpoll.Until(t, 10*time.Second, "bgplbctl status shows "+victim.Name+"'s session down", func() (bool, string) {
		r := bgplbctlStatus(t, l)
		state := r.session(victim.Name)
		return state != "" && state != "Established", state
	})
	t.Logf("the status object showed the session down %v after the router shut it", inStatus.Round(time.Millisecond))
	if other := bgplbctlStatus(t, l).session("node-0"); other != "Established" {
		t.Errorf("node-0's session shows %q; only %s's was shut down", other, victim.Name)
	}
}
