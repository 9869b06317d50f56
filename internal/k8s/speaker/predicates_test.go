package speaker

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/bgplb/bgplb/api/v1alpha1"
)

func TestOnlyEventsThatCanChangeAnnouncementsStartARecompute(t *testing.T) {
	pending := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
	assigned := pending.DeepCopy()
	assigned.Annotations = map[string]string{v1alpha1.AnnotationAssignedPool: "default"}
	assigned.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.1"}}
	foreign := assigned.DeepCopy()
	foreign.Annotations = nil
	clusterIP := assigned.DeepCopy()
	clusterIP.Spec.Type = corev1.ServiceTypeClusterIP

	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"zone": "a"}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Unix(1, 0)},
		}},
	}
	heartbeat := node.DeepCopy()
	heartbeat.Status.Conditions[0].LastHeartbeatTime = metav1.Unix(2, 0)
	relabelled := node.DeepCopy()
	relabelled.Labels = map[string]string{"zone": "b"}
	cordoned := node.DeepCopy()
	cordoned.Spec.Unschedulable = true
	notReady := node.DeepCopy()
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse

	var reads othersRead
	reads.holds.Store(true)
	others := otherNodesChanged("self", &reads)
	quiet := &v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: "other"}}
	holding := quiet.DeepCopy()
	holding.Status.Services = []v1alpha1.ServiceAnnouncement{{Name: "default/web", State: v1alpha1.AnnouncementHeld}}
	sessionUp := quiet.DeepCopy()
	sessionUp.Status.Sessions = []v1alpha1.PeerSession{{Peer: "router", State: "Established"}}

	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"another node starting to hold a Service back counts", others.Update(event.UpdateEvent{ObjectOld: quiet, ObjectNew: holding}), true},
		{"another node's session change is ignored", others.Update(event.UpdateEvent{ObjectOld: quiet, ObjectNew: sessionUp}), false},
		{"a new Service without an address is ignored", serviceChanged().Create(event.CreateEvent{Object: pending}), false},
		{"a Service getting its address counts", serviceChanged().Update(event.UpdateEvent{ObjectOld: pending, ObjectNew: assigned}), true},
		{"a Service losing its address counts", serviceChanged().Update(event.UpdateEvent{ObjectOld: assigned, ObjectNew: pending}), true},
		{"a Service changing type away from LoadBalancer counts", serviceChanged().Update(event.UpdateEvent{ObjectOld: assigned, ObjectNew: clusterIP}), true},
		{"a Service with another load balancer's address is ignored", serviceChanged().Update(event.UpdateEvent{ObjectOld: foreign, ObjectNew: foreign}), false},
		{"deleting an announced Service counts", serviceChanged().Delete(event.DeleteEvent{Object: assigned}), true},
		{"deleting a Service that never had an address is ignored", serviceChanged().Delete(event.DeleteEvent{Object: pending}), false},
		{"a node heartbeat is ignored", nodeChanged().Update(event.UpdateEvent{ObjectOld: node, ObjectNew: heartbeat}), false},
		{"a node label change counts", nodeChanged().Update(event.UpdateEvent{ObjectOld: node, ObjectNew: relabelled}), true},
		{"cordoning a node counts", nodeChanged().Update(event.UpdateEvent{ObjectOld: node, ObjectNew: cordoned}), true},
		{"a node condition changing status counts", nodeChanged().Update(event.UpdateEvent{ObjectOld: node, ObjectNew: notReady}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("passes = %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// Another node's director state counts even before this node's first
// recompute has found the director in use: a change missed then would
// leave that node out of this node's tables until something else changed.
func TestOtherNodesDirectorChangesCountBeforeTheDirectorIsKnownInUse(t *testing.T) {
	var reads othersRead
	others := otherNodesChanged("self", &reads)
	quiet := &v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: "other"}}
	loading := quiet.DeepCopy()
	loading.Status.Director = &v1alpha1.NodeDirector{Ready: false, TunnelAddress: "198.18.0.11"}
	ready := loading.DeepCopy()
	ready.Status.Director.Ready = true
	draining := ready.DeepCopy()
	draining.Status.Services = []v1alpha1.ServiceAnnouncement{{Name: "default/web", State: v1alpha1.AnnouncementDraining}}
	announcing := quiet.DeepCopy()
	announcing.Status.Services = []v1alpha1.ServiceAnnouncement{{Name: "default/web", State: v1alpha1.AnnouncementAnnounced}}
	self := ready.DeepCopy()
	self.Name = "self"
	selfLoading := self.DeepCopy()
	selfLoading.Status.Director.Ready = false

	for _, tt := range []struct {
		name string
		got  bool
		want bool
	}{
		{"another node's datapath becoming ready counts", others.Update(event.UpdateEvent{ObjectOld: loading, ObjectNew: ready}), true},
		{"another node's director state appearing counts", others.Update(event.UpdateEvent{ObjectOld: quiet, ObjectNew: loading}), true},
		{"a draining Service of a node with director state counts", others.Update(event.UpdateEvent{ObjectOld: ready, ObjectNew: draining}), true},
		{"a node created with director state counts", others.Create(event.CreateEvent{Object: ready}), true},
		{"without holds or director, announcements are ignored", others.Update(event.UpdateEvent{ObjectOld: quiet, ObjectNew: announcing}), false},
		{"the node's own status is ignored", others.Update(event.UpdateEvent{ObjectOld: selfLoading, ObjectNew: self}), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("passes = %v, want %v", tt.got, tt.want)
			}
		})
	}
}
