package translate

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/director"
)

func TestDirectorPoolsAreThoseThatTurnItOnWithTheirDrainTimeout(t *testing.T) {
	t.Parallel()
	pool := func(name string, d *v1alpha1.PoolDirector) v1alpha1.IPPool {
		return v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.IPPoolSpec{Director: d}}
	}
	got := DirectorPools([]v1alpha1.IPPool{
		pool("none", nil),
		pool("off", &v1alpha1.PoolDirector{Enabled: false}),
		pool("default", &v1alpha1.PoolDirector{Enabled: true}),
		pool("short", &v1alpha1.PoolDirector{Enabled: true, DrainTimeout: &metav1.Duration{Duration: 30 * time.Second}}),
		pool("negative", &v1alpha1.PoolDirector{Enabled: true, DrainTimeout: &metav1.Duration{Duration: -time.Second}}),
	})
	want := map[string]time.Duration{"default": DefaultDirectorDrainTimeout, "short": 30 * time.Second, "negative": 0}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DirectorPools = %v, want %v", got, want)
	}
}

func TestDirectorNodeReadsRolesAndTheTunnelFromTheStatus(t *testing.T) {
	t.Parallel()
	st := &v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}, Status: v1alpha1.BGPNodeStatusStatus{
		Director: &v1alpha1.NodeDirector{Ready: true, TunnelAddress: "::ffff:198.18.0.1"},
		Services: []v1alpha1.ServiceAnnouncement{
			{Name: "ns/announced", State: v1alpha1.AnnouncementAnnounced},
			{Name: "ns/draining", State: v1alpha1.AnnouncementDraining},
			{Name: "ns/finishing", State: v1alpha1.AnnouncementFinishing},
			{Name: "ns/held", State: v1alpha1.AnnouncementHeld},
		}}}
	want := director.Node{Name: "node-1", Ready: true, TunnelAddress: netip.MustParseAddr("198.18.0.1"), Roles: map[string]director.Role{
		"ns/announced": director.Serving, "ns/draining": director.Draining, "ns/finishing": director.Draining}}
	if got := DirectorNode(st); !reflect.DeepEqual(got, want) {
		t.Errorf("DirectorNode = %+v, want %+v", got, want)
	}

	// Without director state, or with an address that does not parse, the
	// node cannot take forwarded packets.
	st.Status.Director = &v1alpha1.NodeDirector{Ready: true, TunnelAddress: "not-an-address"}
	if got := DirectorNode(st); got.TunnelAddress.IsValid() {
		t.Errorf("tunnel address %s from %q", got.TunnelAddress, st.Status.Director.TunnelAddress)
	}
	st.Status.Director = nil
	if got := DirectorNode(st); got.Ready {
		t.Errorf("a node without director state is ready")
	}
}
