package speaker

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
)

func TestAReleaseIsJudgedOnceAgainstTheHoldsOfEveryNodeByTheFirstAnnouncer(t *testing.T) {
	const key = "default/web"
	t0 := time.Unix(10000, 0)
	released := func(at time.Time) []announce.Service {
		return []announce.Service{{Key: key, ReleasedAt: at}}
	}
	announces := announce.Result{Announced: []string{key}}
	status := func(node, state string, since *time.Time) v1alpha1.BGPNodeStatus {
		st := v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: node}}
		entry := v1alpha1.ServiceAnnouncement{Name: key, State: state}
		if since != nil {
			s := metav1.NewTime(*since)
			entry.HeldSince = &s
		}
		st.Status.Services = []v1alpha1.ServiceAnnouncement{entry}
		return st
	}
	type recompute struct {
		services []announce.Service
		result   announce.Result
		statuses []v1alpha1.BGPNodeStatus
		warn     bool
	}
	tests := []struct {
		name  string
		steps []recompute
	}{
		{"a value found at start-up is not judged", []recompute{
			{released(t0), announces, nil, false},
			{released(t0), announces, nil, false},
		}},
		{"a new value that releases nothing warns once", []recompute{
			{nil, announces, nil, false},
			{released(t0), announces, nil, true},
			{released(t0), announces, nil, false},
			{released(t0.Add(time.Hour)), announces, nil, true},
		}},
		{"a hold this node released counts", []recompute{
			{nil, announce.Result{Held: []announce.Held{{Service: key, Since: t0}}}, nil, false},
			{released(t0.Add(time.Second)), announces, nil, false},
		}},
		{"a hold that starts after the release time does not", []recompute{
			{nil, announce.Result{Held: []announce.Held{{Service: key, Since: t0}}}, nil, false},
			{released(t0.Add(-time.Second)), announce.Result{Announced: []string{key}, Held: []announce.Held{{Service: key, Since: t0}}}, nil, true},
		}},
		{"a hold another node shows counts", []recompute{
			{nil, announces, nil, false},
			{released(t0.Add(time.Second)), announces, []v1alpha1.BGPNodeStatus{status("z", v1alpha1.AnnouncementHeld, &t0)}, false},
		}},
		{"a hold another node showed before releasing it counts", []recompute{
			{nil, announces, []v1alpha1.BGPNodeStatus{status("z", v1alpha1.AnnouncementHeld, &t0)}, false},
			{released(t0.Add(time.Second)), announces, []v1alpha1.BGPNodeStatus{status("z", v1alpha1.AnnouncementAnnounced, nil)}, false},
		}},
		{"only the first node by name that announces the Service reports, draining or not", []recompute{
			{nil, announces, nil, false},
			{released(t0), announces, []v1alpha1.BGPNodeStatus{status("a", v1alpha1.AnnouncementDraining, nil)}, false},
		}},
		{"a node that does not announce the Service does not report", []recompute{
			{nil, announce.Result{}, nil, false},
			{released(t0), announce.Result{}, nil, false},
		}},
	}
	for _, tt := range tests {
		var c releaseCheck
		for i, s := range tt.steps {
			got := c.check("m", s.services, s.result, s.statuses, true)
			if (len(got) > 0) != s.warn {
				t.Errorf("%s: recompute %d: warns about %v, want a warning: %v", tt.name, i, got, s.warn)
			}
		}
	}
}
