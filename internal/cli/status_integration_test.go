package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/controller"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
	"github.com/bgplb/bgplb/internal/k8s/testenv"
	"github.com/bgplb/bgplb/internal/testpoll"
)

// TestStatusAgainstAnAPIServer runs status on objects in a real API server,
// reached through a kubeconfig file as a user would. The API server is
// started here rather than in a TestMain, so that the package's other tests
// need none.
func TestStatusAgainstAnAPIServer(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop API server: %v", err)
		}
	})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	scheme, err := kubeutil.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	create := func(obj client.Object) {
		t.Helper()
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
		}
	}
	updateStatus := func(obj client.Object) {
		t.Helper()
		if err := c.Status().Update(ctx, obj); err != nil {
			t.Fatalf("update status of %T %s: %v", obj, obj.GetName(), err)
		}
	}

	create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}})
	create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-b", Annotations: map[string]string{v1alpha1.AnnotationDrain: ""}}})
	create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-c"}, Spec: corev1.NodeSpec{Unschedulable: true}})
	create(&v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "maintenance"}, Spec: v1alpha1.BGPAdvertisementSpec{DrainOnCordon: true}})
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})

	since := metav1.NewTime(time.Now().Add(-90 * time.Minute).Truncate(time.Second))
	nodeStatus := &v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	create(nodeStatus)
	nodeStatus.Status = v1alpha1.BGPNodeStatusStatus{
		SessionsEstablished: "2/3",
		Sessions: []v1alpha1.PeerSession{
			{Peer: "router-1", PeerAddress: "198.18.0.1", State: "Established", Since: &since, PrefixesSent: 1, BFD: "Up", GracefulRestart: true},
			// The speaker's last figures of a session that went down.
			{Peer: "router-2", PeerAddress: "198.18.0.2", State: "Connect", Since: &since, PrefixesSent: 4, BFD: "Up", LastError: "connection refused"},
			{Peer: "router-3", PeerAddress: "198.18.0.3", State: "Established", Since: &since, PrefixesSent: 1, BFD: "Down", GracefulRestart: true},
		},
		AnnouncedServices: 1,
		Services:          []v1alpha1.ServiceAnnouncement{{Name: "shop/web", State: v1alpha1.AnnouncementAnnounced}},
	}
	updateStatus(nodeStatus)
	cordonedStatus := &v1alpha1.BGPNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: "node-c"}}
	create(cordonedStatus)
	cordonedStatus.Status = v1alpha1.BGPNodeStatusStatus{SessionsEstablished: "1/1", Sessions: []v1alpha1.PeerSession{
		{Peer: "router-1", PeerAddress: "198.18.0.1", State: "Established", Since: &since, GracefulRestart: true}}}
	updateStatus(cordonedStatus)

	for _, name := range []string{"router-1", "router-3"} {
		create(&v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.BGPPeerSpec{MyASN: 64512, PeerASN: 64513, PeerAddress: "198.18.0.1", BFDProfile: "fast"}})
	}

	newService := func(name string, policy corev1.ServiceExternalTrafficPolicy, addr string) {
		t.Helper()
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Annotations: map[string]string{v1alpha1.AnnotationAssignedPool: "public"}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: policy,
				Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
		}
		create(svc)
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: addr}}
		updateStatus(svc)
	}
	newService("web", corev1.ServiceExternalTrafficPolicyLocal, "203.0.113.10")
	newService("idle", corev1.ServiceExternalTrafficPolicyCluster, "203.0.113.11")

	yes := true
	create(&discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "shop", Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.1.0.1"}, NodeName: ptr("node-a"), Conditions: discoveryv1.EndpointConditions{Ready: &yes}},
			{Addresses: []string{"10.1.0.2"}, NodeName: ptr("node-b"), Conditions: discoveryv1.EndpointConditions{Ready: &yes}},
			{Addresses: []string{"10.1.0.3"}, NodeName: ptr("node-c"), Conditions: discoveryv1.EndpointConditions{Ready: &yes}},
		},
	})

	pool := &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "public"},
		Spec: v1alpha1.IPPoolSpec{Addresses: []v1alpha1.AddressRange{"203.0.113.0/24"}}}
	create(pool)
	pool.Status = v1alpha1.IPPoolStatus{IPv4: &v1alpha1.FamilyUsage{Assigned: 2, Available: 254}, ObservedGeneration: pool.Generation,
		Conditions: []metav1.Condition{{Type: v1alpha1.ConditionAccepted, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonAccepted,
			Message: "", LastTransitionTime: metav1.Now()}}}
	updateStatus(pool)

	stdout, stderr, status := run(t, "status --kubeconfig "+kubeconfig)
	if status != 0 || stderr != "" {
		t.Fatalf("status %d, stderr %q", status, stderr)
	}
	t.Logf("output:\n%s", stdout)
	if strings.Contains(stdout, "\x1b[") {
		t.Errorf("output to a buffer is colored")
	}
	for _, row := range [][]string{
		{"node-a", "router-1", "198.18.0.1", "Established", "90m", "1", "Up", "yes"},
		{"node-a", "router-2", "198.18.0.2", "Connect", "90m", "-", "-", "-", "connection", "refused"},
		{"node-a", "router-3", "198.18.0.3", "Established", "90m", "1", "Down", "yes"},
		{"shop/web", "203.0.113.10", "public", "Local", "node-a"},
		{"shop/idle", "203.0.113.11", "public", "Cluster", "NONE:", "not", "announced"},
		{"public", "IPv4", "2/256", "0.8%", "Accepted"},
		{"node-a", "2/3"},
		{"node-b", "-", "no", "speaker", "status", "(no", "BGPNodeStatus);", "draining", "(annotation", "bgplb.io/drain)"},
		{"node-c", "1/1", "cordoned", "(advertisement", "maintenance", "drains", "on", "cordon)"},
	} {
		if got := statusRow(t, stdout, row[0], row[1]); strings.Join(got, " ") != strings.Join(row, " ") {
			t.Errorf("row %q, want %q", got, row)
		}
	}
	for _, want := range []string{
		"Nodes: 3, 2 draining",
		"Sessions: 3 of 4 Established",
		"not announced by node-b: no speaker status, draining (annotation bgplb.io/drain)",
		"not announced by node-c: cordoned (advertisement maintenance drains on cordon)",
		"Problems (3):",
		"session node-a to router-2 is Connect",
		"session node-a to router-3: BFD is Down although the peer asks for BFD profile fast",
		"Service shop/idle is announced by no node",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	stdout, stderr, status = run(t, "status -o json -n shop --kubeconfig "+kubeconfig)
	if status != 0 {
		t.Fatalf("status %d, stderr %q", status, stderr)
	}
	var report statusReport
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("decode %s: %v", stdout, err)
	}
	if report.Healthy || len(report.Services) != 2 || report.Services[1].Name != "shop/web" ||
		len(report.Services[1].NotAnnouncing) != 2 || report.Services[1].NotAnnouncing[0].Node != "node-b" {
		t.Errorf("JSON report: %+v", report)
	}
	if c := report.Nodes[2]; c.Name != "node-c" || !c.Draining || !reflect.DeepEqual(c.DrainOnCordonBy, []string{"maintenance"}) {
		t.Errorf("JSON node %+v, want node-c draining on the cordon by advertisement maintenance", c)
	}
	if s := report.Sessions[0]; s.Seconds == nil || *s.Seconds < 90*60 || *s.Seconds > 95*60 {
		t.Errorf("session uptime %v, want about 90 minutes", s.Seconds)
	}

	stdout, _, status = run(t, "status -n elsewhere --kubeconfig "+kubeconfig)
	if status != 0 || !strings.Contains(stdout, "Services in namespace elsewhere: 0, 0 without an address, 0 announced by no node") {
		t.Errorf("status %d, output:\n%s\nwant no Services in namespace elsewhere", status, stdout)
	}

	t.Run("a Service without an address shows why, as the controller reports it", func(t *testing.T) {
		// The controller serves its own class only, and leaves the
		// Services above, of no class, as they are: status still counts
		// them, as they carry bgplb's pool annotation.
		const class = "bgplb.io/status-test"
		create(&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "waiting", Annotations: map[string]string{v1alpha1.AnnotationIPPool: "no-such-pool"}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerClass: ptr(class),
				Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
		})
		mgr, err := controller.NewManager(env.Config, controller.Options{LoadBalancerClass: class})
		if err != nil {
			t.Fatal(err)
		}
		testenv.RunUntilCleanup(t, "controller", mgr)
		const reason = `pool "no-such-pool" does not exist`
		cmdline := "status -n shop --lb-class " + class + " --kubeconfig " + kubeconfig
		testpoll.Until(t, 30*time.Second, "status shows the controller's reason for the pending Service", func() (bool, string) {
			stdout, stderr, _ := run(t, cmdline)
			return strings.Contains(stdout, "  pending: "+reason+" (AllocationFailed Event, "), stdout + stderr
		})
		stdout, _, _ := run(t, cmdline)
		t.Logf("output:\n%s", stdout)
		if got := statusRow(t, stdout, "shop/waiting", "<pending>"); strings.Join(got, " ") != "shop/waiting <pending> - Cluster -" {
			t.Errorf("row %q, want the Service pending", got)
		}
		for _, want := range []string{"Services in namespace shop: 3, 1 without an address, 1 announced by no node",
			"  - Service shop/waiting has no address: " + reason} {
			if !strings.Contains(stdout, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		// Without its class the Service is not bgplb's, were it not for
		// the controller's Event.
		if stdout, _, _ := run(t, "status -n shop --kubeconfig "+kubeconfig); !strings.Contains(stdout, "shop/waiting  <pending>") {
			t.Errorf("output without --lb-class lacks the Service the controller reported on:\n%s", stdout)
		}
	})
}

// statusRow returns the fields of the output's row starting with first and
// second.
func statusRow(t *testing.T, output, first, second string) []string {
	t.Helper()
	for line := range strings.Lines(output) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == first && f[1] == second {
			return f
		}
	}
	t.Fatalf("no row %s %s in output:\n%s", first, second, output)
	return nil
}

func ptr[T any](v T) *T { return &v }
