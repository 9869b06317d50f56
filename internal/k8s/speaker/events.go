package speaker

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// Event reasons the speaker writes on Services.
const (
	EventAnnounced    = "Announced"
	EventWithdrawn    = "Withdrawn"
	EventAdditionHeld = "AdditionHeld"
	// EventNothingReleased is a Warning: the Service's release annotation
	// released no held addition.
	EventNothingReleased = "NothingReleased"
)

// Each Service gets at most serviceEventBurst events from one node at
// once and then one per serviceEventEvery, and the node at most
// nodeEventBurst at once and nodeEventRate a second in all: a flapping
// endpoint, or thousands of Services created at once, must not flood the
// API server with events. Events over the limit are counted, and the next
// event of the Service says how many it stands for.
const (
	serviceEventBurst = 3
	serviceEventEvery = 30 * time.Second
	nodeEventBurst    = 20
	nodeEventRate     = 1
)

// announcementEvents reports on Services when this node starts or stops
// announcing them, and why.
type announcementEvents struct {
	recorder events.EventRecorder
	node     string
	all      *rate.Limiter
	perSvc   map[string]*serviceEvents
	// lookup finds a Service of the current recompute by key.
	lookup func(key string) *corev1.Service
}

type serviceEvents struct {
	limit   *rate.Limiter
	dropped int
}

func newAnnouncementEvents(recorder events.EventRecorder, node string) *announcementEvents {
	return &announcementEvents{recorder: recorder, node: node,
		all: rate.NewLimiter(nodeEventRate, nodeEventBurst), perSvc: map[string]*serviceEvents{}}
}

// report compares what the node announced and held before a recompute
// with the result, and writes an event for each Service that changed.
func (a *announcementEvents) report(now time.Time, in *announce.Input, res announce.Result, heldBefore map[string]time.Time, items []corev1.Service) {
	if a == nil || a.recorder == nil {
		return
	}
	// Most recomputes change nothing; the index is built only for one
	// that does.
	var services map[string]*corev1.Service
	a.lookup = func(key string) *corev1.Service {
		if services == nil {
			services = make(map[string]*corev1.Service, len(items))
			for i := range items {
				services[translate.ServiceKey(&items[i])] = &items[i]
			}
		}
		return services[key]
	}
	announced := make(map[string]bool, len(res.Announced))
	for _, key := range res.Announced {
		announced[key] = true
		if !in.Admitted[key] {
			a.send(now, a.lookup(key), corev1.EventTypeNormal, EventAnnounced, "Announce", "node %s announces the Service's addresses", a.node)
		}
	}
	for _, h := range res.Held {
		if _, was := heldBefore[h.Service]; !was {
			a.send(now, a.lookup(h.Service), corev1.EventTypeNormal, EventAdditionHeld, "Announce",
				"node %s could announce the Service but holds back until %s (additionHold): other nodes announce it already", a.node, h.Until.UTC().Format(time.RFC3339))
		}
	}
	var gone []string
	for key := range in.Admitted {
		if !announced[key] {
			gone = append(gone, key)
		}
	}
	if len(gone) == 0 {
		return
	}
	slices.Sort(gone)
	byKey := make(map[string]*announce.Service, len(in.Services))
	for i := range in.Services {
		byKey[in.Services[i].Key] = &in.Services[i]
	}
	for key := range a.perSvc {
		if a.lookup(key) == nil {
			delete(a.perSvc, key)
		}
	}
	for _, key := range gone {
		svc, ok := byKey[key]
		if !ok {
			continue // deleted, or no longer ours: nothing to tell it
		}
		a.send(now, a.lookup(key), corev1.EventTypeNormal, EventWithdrawn, "Announce", "node %s withdrew the Service's addresses: %s", a.node, whyNot(in, svc))
	}
}

// whyNot says why the node no longer announces a Service it still knows.
func whyNot(in *announce.Input, svc *announce.Service) string {
	switch {
	case in.Node.NetworkUnavailable:
		return "the node's network is unavailable"
	case in.Node.Drain || in.Node.Cordoned:
		return "the node is drained"
	case !svc.AnnounceableFrom(in.Node.Name) && svc.Local:
		return "no ready endpoint on this node (externalTrafficPolicy: Local)"
	case !svc.AnnounceableFrom(in.Node.Name):
		return "no ready endpoint anywhere"
	default:
		return "no advertisement announces it from this node to a peer it has a session with"
	}
}

// nothingReleased warns on a Service of the current recompute (report
// has set lookup for it) that its release annotation released nothing.
func (a *announcementEvents) nothingReleased(now time.Time, svc announce.Service) {
	if a == nil || a.recorder == nil {
		return
	}
	a.send(now, a.lookup(svc.Key), corev1.EventTypeWarning, EventNothingReleased, "Release",
		"annotation %s=%s released nothing: no node held back an addition of the Service from before that time (only a BGPAdvertisement's additionHold holds additions back)",
		v1alpha1.AnnotationReleaseHeldAdditions, svc.ReleasedAt.Format(time.RFC3339))
}

func (a *announcementEvents) send(now time.Time, svc *corev1.Service, eventType, reason, action, note string, args ...any) {
	if svc == nil {
		return
	}
	key := translate.ServiceKey(svc)
	se, ok := a.perSvc[key]
	if !ok {
		se = &serviceEvents{limit: rate.NewLimiter(rate.Every(serviceEventEvery), serviceEventBurst)}
		a.perSvc[key] = se
	}
	// The node's budget is asked first, so that an event the node cannot
	// afford does not use up the Service's.
	if !a.all.AllowN(now, 1) || !se.limit.AllowN(now, 1) {
		se.dropped++
		return
	}
	msg := fmt.Sprintf(note, args...)
	if se.dropped > 0 {
		msg += fmt.Sprintf(" (%d earlier change%s on this node not reported)", se.dropped, strings.Repeat("s", min(se.dropped-1, 1)))
		se.dropped = 0
	}
	a.recorder.Eventf(svc, nil, eventType, reason, action, "%s", msg)
}
