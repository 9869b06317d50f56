package lab

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestEveryNodeHasItsOwnPodCIDRsInsideTheClusterCIDRs(t *testing.T) {
	t.Parallel()
	cluster4, cluster6 := netip.MustParsePrefix(ClusterCIDR4), netip.MustParsePrefix(ClusterCIDR6)
	var seen []netip.Prefix
	for i := range maxNodes {
		v4, v6, err := podCIDRs(i)
		if err != nil {
			t.Fatal(err)
		}
		if !cluster4.Contains(v4.Addr()) || !cluster6.Contains(v6.Addr()) {
			t.Errorf("node %d: %s and %s are not inside %s and %s", i, v4, v6, cluster4, cluster6)
		}
		for _, s := range seen {
			if s.Overlaps(v4) || s.Overlaps(v6) {
				t.Errorf("node %d: %s or %s overlaps %s", i, v4, v6, s)
			}
		}
		seen = append(seen, v4, v6)
	}
	if _, _, err := podCIDRs(maxNodes); err == nil {
		t.Errorf("node %d has pod CIDRs, beyond the cluster CIDR's room", maxNodes)
	}
}

func TestPodAddressesFollowTheGatewayAndStopAtTheEnd(t *testing.T) {
	t.Parallel()
	small := netip.MustParsePrefix("198.19.0.0/29") // .1 gateway, .2-.6 pods, .7 broadcast
	for slot, want := range []string{"198.19.0.2", "198.19.0.3", "198.19.0.4", "198.19.0.5", "198.19.0.6"} {
		got, err := podAddress(small, slot)
		if err != nil || got.String() != want {
			t.Errorf("slot %d: %v, %v; want %s", slot, got, err, want)
		}
	}
	if got, err := podAddress(small, 5); err == nil {
		t.Errorf("slot 5 of %s is %s; want an error, the broadcast address is no pod's", small, got)
	}
	v6 := netip.MustParsePrefix("2001:db8:200::/126") // ::1 gateway, ::2 and ::3 pods
	if got, err := podAddress(v6, 1); err != nil || got.String() != "2001:db8:200::3" {
		t.Errorf("slot 1 of %s: %v, %v", v6, got, err)
	}
	if _, err := podAddress(v6, 2); err == nil {
		t.Errorf("slot 2 of %s has an address", v6)
	}
}

func TestAnAnswerReadsBackAsWritten(t *testing.T) {
	t.Parallel()
	a := Answer{Node: "node-1", Pod: "default/web-node-0-0", PodNode: "node-0", Source: netip.MustParseAddr("2001:db8:1::11")}
	got, err := ParseAnswer(a.String() + "\n")
	if err != nil || got != a {
		t.Fatalf("ParseAnswer(%q) = %+v, %v; want %+v", a.String(), got, err, a)
	}
	for _, bad := range []string{"", "node-0", "node=a pod=b pod-node=c source=nowhere", "pod=b node=a pod-node=c source=1.2.3.4", "node= pod=b pod-node=c source=1.2.3.4"} {
		if _, err := ParseAnswer(bad); err == nil {
			t.Errorf("ParseAnswer(%q) accepted it", bad)
		}
	}
}

func FuzzParseAnswer(f *testing.F) {
	f.Add("node=node-1 pod=default/web pod-node=node-0 source=198.18.0.11")
	f.Add("node=a pod=b pod-node=c source=::1")
	f.Fuzz(func(t *testing.T, line string) {
		a, err := ParseAnswer(line)
		if err != nil {
			return
		}
		again, err := ParseAnswer(a.String())
		if err != nil || again != a {
			t.Fatalf("%q parsed as %+v, which prints as %q and parses as %+v, %v", line, a, a.String(), again, err)
		}
	})
}

// A kubelet that writes the status it computed from an unchanged pod
// must find nothing to write, or it would update the pod forever.
func TestAPodStatusIsStableOnceWritten(t *testing.T) {
	t.Parallel()
	n := &Node{Name: "node-0", Addr4: netip.MustParseAddr("198.18.0.10"), Addr6: netip.MustParseAddr("2001:db8:1::10")}
	p := &Pod{Namespace: "default", Name: "web", Node: n, Addr4: netip.MustParseAddr("198.19.0.2"), Addr6: netip.MustParseAddr("2001:db8:200::2")}
	first := podStatus(p, true, corev1.PodStatus{})
	if again := podStatus(p, true, first); !apiequality.Semantic.DeepEqual(again, first) {
		t.Errorf("the status changed with nothing else changing:\n%+v\n%+v", first, again)
	}
	unready := podStatus(p, false, first)
	if apiequality.Semantic.DeepEqual(unready, first) {
		t.Error("a pod turning unready keeps its status")
	}
}

func TestEndpointsFollowThePodsReadinessAndDeletion(t *testing.T) {
	t.Parallel()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.PodSpec{NodeName: "node-0", Containers: []corev1.Container{{Name: "responder", Image: ResponderImage,
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "198.19.0.2"}, {IP: "2001:db8:200::2"}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	check := func(what string, family corev1.IPFamily, wantAddr string, ready, serving, terminating bool) {
		t.Helper()
		ep, ok := podEndpoint(pod, family)
		if !ok {
			t.Fatalf("%s: no %s endpoint", what, family)
		}
		if ep.Addresses[0] != wantAddr || *ep.Conditions.Ready != ready || *ep.Conditions.Serving != serving || *ep.Conditions.Terminating != terminating {
			t.Errorf("%s: %s endpoint %v %+v", what, family, ep.Addresses, ep.Conditions)
		}
	}
	check("ready", corev1.IPv4Protocol, "198.19.0.2", true, true, false)
	check("ready", corev1.IPv6Protocol, "2001:db8:200::2", true, true, false)
	pod.Status.Conditions[0].Status = corev1.ConditionFalse
	check("unready", corev1.IPv4Protocol, "198.19.0.2", false, false, false)
	pod.Status.Conditions[0].Status = corev1.ConditionTrue
	pod.DeletionTimestamp = &metav1.Time{}
	check("deleted", corev1.IPv4Protocol, "198.19.0.2", false, true, true)
	pod.Status.Phase = corev1.PodPending
	if _, ok := podEndpoint(pod, corev1.IPv4Protocol); ok {
		t.Error("a pod that does not run has an endpoint")
	}

	svc := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
		{Name: "plain", Port: 8080, Protocol: corev1.ProtocolTCP},
		{Name: "number", Port: 443, TargetPort: intstr.FromInt32(80), Protocol: corev1.ProtocolTCP},
		{Name: "named", Port: 81, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
		{Name: "unknown", Port: 82, TargetPort: intstr.FromString("nothing"), Protocol: corev1.ProtocolTCP},
	}}}
	want := map[string]int32{"plain": 8080, "number": 80, "named": 80}
	got := map[string]int32{}
	for _, p := range endpointPorts(svc, pod) {
		got[*p.Name] = *p.Port
	}
	if len(got) != len(want) || got["plain"] != 8080 || got["number"] != 80 || got["named"] != 80 {
		t.Errorf("endpoint ports %v, want %v (a port naming no container port is left out)", got, want)
	}
}
