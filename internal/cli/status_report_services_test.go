package cli

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
)

// TestBuildReportExplainsServicesWithoutAnAddress checks that a Service
// without an address is pending, a problem, and explained by the
// controller's latest Event when there is one.
func TestBuildReportExplainsServicesWithoutAnAddress(t *testing.T) {
	up := []v1alpha1.PeerSession{established("router-1")}
	runReportCases(t, []reportCase{
		{
			name: "a Service without an address is reported pending with the controller's reason, and is a problem",
			in: statusInputs{
				Nodes:        []corev1.Node{testNode("a")},
				NodeStatuses: []v1alpha1.BGPNodeStatus{speakerStatus("a", up)},
				Services:     []corev1.Service{pendingService("shop/new", nil)},
				Events: []eventsv1.Event{
					allocationFailed("shop/new", "pool \"public\" has no IPv4 addresses", 10*time.Minute),
					func() eventsv1.Event {
						// First seen half an hour ago, and again since.
						e := allocationFailed("shop/new", "no address pools are configured", 30*time.Minute)
						e.Series = &eventsv1.EventSeries{Count: 4, LastObservedTime: metav1.NewMicroTime(statusNow.Add(-3 * time.Minute))}
						return e
					}(),
				},
			},
			check: func(t *testing.T, r statusReport) {
				s := findService(t, r, "shop/new")
				at := statusNow.Add(-3 * time.Minute)
				if !s.Pending || s.PendingReason != "no address pools are configured" || !reflect.DeepEqual(s.PendingReasonAt, &at) {
					t.Errorf("got %+v, want pending for the latest Event's note, seen 3 minutes ago", s)
				}
				if s.Announced || s.NotAnnouncing != nil {
					t.Errorf("got %+v: nothing to announce, so no node reasons", s)
				}
				if want := []string{"Service shop/new has no address: no address pools are configured"}; !reflect.DeepEqual(r.Problems, want) {
					t.Errorf("problems %q, want %q", r.Problems, want)
				}
			},
		},
		{
			name: "a Service without an address and without an Event says that nothing explains it",
			in:   statusInputs{Services: []corev1.Service{pendingService("shop/new", nil)}},
			check: func(t *testing.T, r statusReport) {
				if s := findService(t, r, "shop/new"); !s.Pending || s.PendingReason != "" || s.PendingReasonAt != nil {
					t.Errorf("got %+v, want pending without a reason", s)
				}
				want := []string{"Service shop/new has no address: no AllocationFailed Event of the bgplb controller says why " +
					"(is the controller running and serving the Service's load balancer class? its Events expire after an hour)"}
				if !reflect.DeepEqual(r.Problems, want) {
					t.Errorf("problems %q, want %q", r.Problems, want)
				}
			},
		},
	})
}

// TestBuildReportSelectsServices checks which Services a report lists.
func TestBuildReportSelectsServices(t *testing.T) {
	const web = "shop/web"
	runReportCases(t, []reportCase{
		{
			name: "Services without an address are bgplb's when of its class or when its controller reported on them",
			in: statusInputs{
				LoadBalancerClass: "bgplb.io/lb",
				Services: []corev1.Service{pendingService("shop/ours", ptr("bgplb.io/lb")), pendingService("shop/classless", nil),
					pendingService("shop/reported", ptr("example.com/other")), pendingService("shop/others", ptr("example.com/other")),
					func() corev1.Service {
						s := pendingService("shop/recreated", nil)
						s.UID = "new"
						return s
					}()},
				Events: []eventsv1.Event{
					allocationFailed("shop/reported", "no suitable pool", time.Minute),
					func() eventsv1.Event {
						e := allocationFailed("shop/others", "no address", time.Minute)
						e.ReportingController = "other-controller"
						return e
					}(),
					func() eventsv1.Event {
						e := allocationFailed("shop/recreated", "no address", time.Minute)
						e.Regarding.UID = "old"
						return e
					}(),
				},
			},
			check: func(t *testing.T, r statusReport) {
				var names []string
				for _, s := range r.Services {
					names = append(names, s.Name+": "+s.PendingReason)
				}
				if want := []string{"shop/ours: ", "shop/reported: no suitable pool"}; !reflect.DeepEqual(names, want) {
					t.Errorf("Services %q, want %q", names, want)
				}
			},
		},
		{
			name: "only LoadBalancer Services that bgplb assigned are reported, sorted",
			in: func() statusInputs {
				other := lbService("shop/other-lb", "", "198.51.100.1")
				other.Annotations = nil
				clusterIP := lbService("shop/internal", "")
				clusterIP.Spec.Type = corev1.ServiceTypeClusterIP
				return statusInputs{Services: []corev1.Service{lbService("shop/z", "", "203.0.113.2"), other, clusterIP,
					lbService("dev/a", "", "203.0.113.1")}}
			}(),
			check: func(t *testing.T, r statusReport) {
				var names []string
				for _, s := range r.Services {
					names = append(names, s.Name)
				}
				if want := []string{"dev/a", "shop/z"}; !reflect.DeepEqual(names, want) {
					t.Errorf("Services %v, want %v", names, want)
				}
			},
		},
		{
			name: "the namespace filter leaves out other namespaces' Services",
			in: statusInputs{Namespace: "dev",
				Services: []corev1.Service{lbService(web, "", "203.0.113.10"), lbService("dev/api", "", "203.0.113.11")}},
			check: func(t *testing.T, r statusReport) {
				if len(r.Services) != 1 || r.Services[0].Name != "dev/api" || r.Namespace != "dev" {
					t.Errorf("Services %+v, want dev/api only", r.Services)
				}
			},
		},
	})
}
