package speaker

import (
	"slices"
	"time"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
)

// releaseCheck finds, once per value of a Service's release annotation,
// the annotations that release nothing: an operator who releases a
// Service that no node holds back would otherwise see nothing happen and
// not learn why.
//
// Every speaker reads the annotation, but one reports on it: the first by
// name of the nodes that announce the Service. A node that releases a
// hold writes its status at once, and another node may read that status
// in the same recompute that first shows it the annotation, so the holds
// that the previous recompute saw count too.
type releaseCheck struct {
	// judged maps each Service with a release time to the time last
	// judged. It is nil before the first recompute, which takes the times
	// it finds as judged: they were set before this speaker started, and
	// a restarted speaker must not report them again.
	judged map[string]time.Time
	// heldBefore maps each Service that some node held back at the
	// previous recompute to the earliest start of those holds.
	heldBefore map[string]time.Time
}

// check returns the Services whose release time is new and releases
// nothing, if this node is the one to report it. others says whether the
// holds of other nodes matter: no other node holds anything back while no
// advertisement holds additions.
func (c *releaseCheck) check(self string, services []announce.Service, res announce.Result, statuses []v1alpha1.BGPNodeStatus, others bool) []announce.Service {
	heldNow := holdStarts(self, res.Held, statuses, others)
	judged := map[string]time.Time{}
	var nothing []announce.Service
	for _, svc := range services {
		if svc.ReleasedAt.IsZero() {
			continue
		}
		judged[svc.Key] = svc.ReleasedAt
		if c.judged == nil || c.judged[svc.Key].Equal(svc.ReleasedAt) {
			continue
		}
		if heldFrom(heldNow, svc.Key, svc.ReleasedAt) || heldFrom(c.heldBefore, svc.Key, svc.ReleasedAt) {
			continue
		}
		if firstAnnouncer(self, svc.Key, res.Announced, statuses) {
			nothing = append(nothing, svc)
		}
	}
	c.judged, c.heldBefore = judged, heldNow
	return nothing
}

// holdStarts maps each Service held back by this node (held) or, if
// others is set, by another node (from its status) to the earliest start
// of those holds.
func holdStarts(self string, held []announce.Held, statuses []v1alpha1.BGPNodeStatus, others bool) map[string]time.Time {
	starts := map[string]time.Time{}
	add := func(key string, since time.Time) {
		if first, ok := starts[key]; !ok || since.Before(first) {
			starts[key] = since
		}
	}
	for _, h := range held {
		add(h.Service, h.Since)
	}
	if !others {
		return starts
	}
	for _, st := range statuses {
		if st.Name == self {
			continue
		}
		for _, s := range st.Status.Services {
			if s.State == v1alpha1.AnnouncementHeld && s.HeldSince != nil {
				add(s.Name, s.HeldSince.Time)
			}
		}
	}
	return starts
}

// heldFrom tells whether a release at the time releases one of the holds:
// a hold that started at or before it.
func heldFrom(starts map[string]time.Time, key string, release time.Time) bool {
	since, ok := starts[key]
	return ok && !release.Before(since)
}

// firstAnnouncer tells whether this node announces the Service and no
// other node that does, by its status, comes before it by name.
func firstAnnouncer(self, key string, announced []string, statuses []v1alpha1.BGPNodeStatus) bool {
	if _, ok := slices.BinarySearch(announced, key); !ok {
		return false
	}
	for _, st := range statuses {
		if st.Name >= self {
			continue
		}
		for _, s := range st.Status.Services {
			if s.Name == key && (s.State == v1alpha1.AnnouncementAnnounced || s.State == v1alpha1.AnnouncementDraining) {
				return false
			}
		}
	}
	return true
}
