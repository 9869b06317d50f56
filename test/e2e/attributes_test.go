package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/testpoll"
	"github.com/bgplb/bgplb/test/lab"
)

// waitForPaths waits until the router has a path for prefix from every
// node and returns them.
func waitForPaths(t *testing.T, l *lab.Lab, prefix netip.Prefix) []lab.RIBPath {
	t.Helper()
	var paths []lab.RIBPath
	testpoll.Until(t, 20*time.Second, fmt.Sprintf("the router has %s from every node", prefix), func() (bool, string) {
		var err error
		paths, err = l.Router.BGPPaths(prefix)
		return err == nil && len(paths) == len(l.Nodes), fmt.Sprintf("%+v %v", paths, err)
	})
	return paths
}

// LOCAL_PREF towards eBGP peers is not checked here: a router ignores it
// on eBGP sessions anyway (RFC 4271 5.1.5), so the announce table tests
// check that it is never sent.
func TestCommunitiesAggregationAndMEDReachTheRouter(t *testing.T) {
	forEachRouter(t, func(t *testing.T, router string) {
		communitiesAggregationAndMEDReachTheRouter(t, startLabWith(t, lab.Config{Nodes: 2, Router: router}))
	})
}

func communitiesAggregationAndMEDReachTheRouter(t *testing.T, l *lab.Lab) {
	configure(t, l, v1alpha1.BGPAdvertisementSpec{
		AggregationLength: ptr.To[int32](28),
		Communities:       []v1alpha1.Community{"64512:100", "4200000000:1:2", "no-export"},
		MED:               ptr.To[int64](50),
	})
	ctx := context.Background()
	svc := createService(t, l, "tagged", false)
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addr := serviceAddrs(t, l, svc, 1)[0]
	aggregate := netip.PrefixFrom(addr, 28).Masked()
	for _, p := range waitForPaths(t, l, aggregate) {
		if !strings.Contains(p.Communities, "64512:100") || !strings.Contains(p.Communities, "no-export") {
			t.Errorf("path from %s has communities %q", p.NextHop, p.Communities)
		}
		if p.LargeCommunities != "4200000000:1:2" {
			t.Errorf("path from %s has large communities %q", p.NextHop, p.LargeCommunities)
		}
		if p.MED == nil || *p.MED != 50 {
			t.Errorf("path from %s has MED %v, want 50", p.NextHop, p.MED)
		}
	}
	// Only the aggregate is announced, not the host route.
	if paths, err := l.Router.BGPPaths(hostPrefix(addr)); err != nil || len(paths) != 0 {
		t.Errorf("the router has the host route %s: %+v (%v)", hostPrefix(addr), paths, err)
	}
}

func TestLocalPrefReachesAnIBGPRouter(t *testing.T) {
	forEachRouter(t, func(t *testing.T, router string) {
		localPrefReachesAnIBGPRouter(t, startLabWith(t, lab.Config{Nodes: 2, IBGP: true, Router: router}))
	})
}

func localPrefReachesAnIBGPRouter(t *testing.T, l *lab.Lab) {
	configure(t, l, v1alpha1.BGPAdvertisementSpec{LocalPref: ptr.To[int64](300)})
	ctx := context.Background()
	svc := createService(t, l, "preferred", false)
	if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-1": {lab.Ready}}); err != nil {
		t.Fatal(err)
	}
	addr := serviceAddrs(t, l, svc, 1)[0]
	for _, p := range waitForPaths(t, l, hostPrefix(addr)) {
		if p.LocalPref == nil || *p.LocalPref != 300 {
			t.Errorf("path from %s has LOCAL_PREF %v, want 300", p.NextHop, p.LocalPref)
		}
	}
	waitForNextHops(t, l, addr, allNodes(l)...)
}

func TestTCPMD5PasswordsMustMatch(t *testing.T) {
	const password = "lab-md5-secret"
	forEachRouter(t, func(t *testing.T, router string) {
		cfg := lab.Config{Nodes: 2, RouterPassword: password, Router: router}
		if router == "gobgp" {
			// gobgpd 3.10 sets TCP-MD5 keys for configured neighbours
			// only (test/lab/gobgp.go).
			cfg.Neighbours = lab.StaticNeighbours
		}
		tcpMD5PasswordsMustMatch(t, startLabWith(t, cfg), password)
	})
}

func tcpMD5PasswordsMustMatch(t *testing.T, l *lab.Lab, password string) {
	ctx := context.Background()
	for name, value := range map[string]string{"right": password, "wrong": "not-the-password"} {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "bgplb-system", Name: name}, StringData: map[string]string{"password": value}}
		if err := l.Client.Create(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	// node-0 uses the right password, node-1 the wrong one.
	setNodeLabel(t, l, "node-0", "md5", "right")
	setNodeLabel(t, l, "node-1", "md5", "wrong")
	right, wrong := routerPeer(l), routerPeer(l)
	right.Name, wrong.Name = "router-right", "router-wrong"
	right.Spec.PasswordSecret = &v1alpha1.SecretKeyReference{Namespace: "bgplb-system", Name: "right"}
	right.Spec.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"md5": "right"}}}
	wrong.Spec.PasswordSecret = &v1alpha1.SecretKeyReference{Namespace: "bgplb-system", Name: "wrong"}
	wrong.Spec.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"md5": "wrong"}}}
	configurePeer(t, l, v1alpha1.BGPAdvertisementSpec{}, right)
	if err := l.Client.Create(ctx, wrong); err != nil {
		t.Fatal(err)
	}
	testpoll.Until(t, 60*time.Second, "the node with the right password is Established", func() (bool, string) {
		up, err := l.Router.Established()
		return err == nil && slices.Contains(up, l.Nodes[0].Addr4.String()), fmt.Sprint(up, err)
	})
	// The wrong password never establishes: watch for longer than a few
	// connect attempts and a hold time.
	testpoll.Throughout(t, 15*time.Second, "the node with the wrong password does not establish", func() (bool, string) {
		up, err := l.Router.Established()
		return err == nil && !slices.Contains(up, l.Nodes[1].Addr4.String()), fmt.Sprint(up, err)
	})
	// The speaker says why the session does not come up.
	testpoll.Until(t, 60*time.Second, "node-1's speaker reports the session down and names TCP-MD5", func() (bool, string) {
		log := l.SpeakerLog(l.Nodes[1])
		return strings.Contains(log, "BGP session not established") && strings.Contains(log, "TCP-MD5"), "no such log line"
	})
	for _, n := range l.Nodes {
		if log := l.SpeakerLog(n); strings.Contains(log, password) || strings.Contains(log, "not-the-password") {
			t.Errorf("the speaker of %s logged a password", n.Name)
		}
	}
}
