package controller_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/controller"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
	"github.com/bgplb/bgplb/internal/testpoll"
)

func inRange(t *testing.T, ip, prefix string) bool {
	t.Helper()
	return netip.MustParsePrefix(prefix).Contains(netip.MustParseAddr(ip))
}

func TestServicesGetAddressesOfTheFamiliesTheyAskFor(t *testing.T) {
	startController(t, controller.Options{})
	ns := namespace(t, nil)
	createPool(t, ns+"-mixed", []string{"198.51.100.0/28", "2001:db8:100:1::/120"}, onlyNamespaces(ns))

	createService(t, ns, "v4", families(corev1.IPFamilyPolicySingleStack, corev1.IPv4Protocol))
	createService(t, ns, "v6", families(corev1.IPFamilyPolicySingleStack, corev1.IPv6Protocol))
	createService(t, ns, "dual", families(corev1.IPFamilyPolicyRequireDualStack, corev1.IPv6Protocol, corev1.IPv4Protocol))
	createService(t, ns, "prefer", families(corev1.IPFamilyPolicyPreferDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol))

	v4 := waitForAnyIPs(t, ns, "v4", 1)
	if !inRange(t, v4[0], "198.51.100.0/28") {
		t.Errorf("IPv4 Service got %v", v4)
	}
	v6 := waitForAnyIPs(t, ns, "v6", 1)
	if !inRange(t, v6[0], "2001:db8:100:1::/120") {
		t.Errorf("IPv6 Service got %v", v6)
	}
	dual := waitForAnyIPs(t, ns, "dual", 2)
	if !inRange(t, dual[0], "2001:db8:100:1::/120") || !inRange(t, dual[1], "198.51.100.0/28") {
		t.Errorf("dual-stack Service with IPv6 primary got %v, want IPv6 then IPv4", dual)
	}
	prefer := waitForAnyIPs(t, ns, "prefer", 2)
	if !inRange(t, prefer[0], "198.51.100.0/28") || !inRange(t, prefer[1], "2001:db8:100:1::/120") {
		t.Errorf("PreferDualStack Service got %v, want IPv4 then IPv6", prefer)
	}
	all := slices.Concat(v4, v6, dual, prefer)
	slices.Sort(all)
	if len(slices.Compact(all)) != 6 {
		t.Errorf("addresses handed out twice: %v", all)
	}
	if got := getService(t, ns, "dual").Annotations[v1alpha1.AnnotationAssignedPool]; got != ns+"-mixed" {
		t.Errorf("pool annotation = %q, want %q", got, ns+"-mixed")
	}
	waitForEvent(t, ns, "dual", controller.EventIPAllocated, dual[0], dual[1], ns+"-mixed")
}

func TestRequestedAddressesAreHonouredOrRefusedWithTheBadValue(t *testing.T) {
	startController(t, controller.Options{})
	ns := namespace(t, nil)
	createPool(t, ns+"-a", []string{"198.51.100.16/28", "2001:db8:100:2::/120"}, onlyNamespaces(ns))

	createService(t, ns, "annotated", annotate(v1alpha1.AnnotationLoadBalancerIPs, "198.51.100.20"))
	waitForIPs(t, ns, "annotated", "198.51.100.20")

	createService(t, ns, "legacy", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "198.51.100.21" })
	waitForIPs(t, ns, "legacy", "198.51.100.21")

	createService(t, ns, "dual", families(corev1.IPFamilyPolicyRequireDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol),
		annotate(v1alpha1.AnnotationLoadBalancerIPs, "198.51.100.22, 2001:db8:100:2::22"))
	waitForIPs(t, ns, "dual", "198.51.100.22", "2001:db8:100:2::22")

	createService(t, ns, "outside", annotate(v1alpha1.AnnotationLoadBalancerIPs, "203.0.113.77"))
	waitForEvent(t, ns, "outside", controller.EventAllocationFailed, `"203.0.113.77"`)

	createService(t, ns, "malformed", annotate(v1alpha1.AnnotationLoadBalancerIPs, "198.51.100.300"))
	waitForEvent(t, ns, "malformed", controller.EventAllocationFailed, `"198.51.100.300"`, v1alpha1.AnnotationLoadBalancerIPs)

	createService(t, ns, "taken", annotate(v1alpha1.AnnotationLoadBalancerIPs, "198.51.100.20"))
	waitForEvent(t, ns, "taken", controller.EventAllocationFailed, `"198.51.100.20"`)

	for _, name := range []string{"outside", "malformed", "taken"} {
		if ips := ingressIPs(getService(t, ns, name)); len(ips) != 0 {
			t.Errorf("refused Service %s got %v", name, ips)
		}
	}
	// A refused request leaves every other Service where it was.
	waitForIPs(t, ns, "annotated", "198.51.100.20")
}

func TestARequestedPoolIsUsedAndAnUnknownOneReported(t *testing.T) {
	startController(t, controller.Options{})
	ns := namespace(t, nil)
	createPool(t, ns+"-first", []string{"198.51.100.32/29"}, onlyNamespaces(ns), priority(1))
	createPool(t, ns+"-manual", []string{"198.51.100.40/29"}, onlyNamespaces(ns), autoAssign(false))

	createService(t, ns, "plain")
	if ip := waitForAnyIPs(t, ns, "plain", 1); !inRange(t, ip[0], "198.51.100.32/29") {
		t.Errorf("Service without a request got %v from the manual pool", ip)
	}
	createService(t, ns, "chosen", annotate(v1alpha1.AnnotationIPPool, ns+"-manual"))
	if ip := waitForAnyIPs(t, ns, "chosen", 1); !inRange(t, ip[0], "198.51.100.40/29") {
		t.Errorf("Service asking for the manual pool got %v", ip)
	}
	createService(t, ns, "unknown", annotate(v1alpha1.AnnotationIPPool, "no-such-pool"))
	waitForEvent(t, ns, "unknown", controller.EventAllocationFailed, `"no-such-pool"`)
}

func TestSharingIsAllowedOnlyWithoutClashes(t *testing.T) {
	startController(t, controller.Options{})
	ns := namespace(t, nil)
	createPool(t, ns+"-a", []string{"198.51.100.48/29"}, onlyNamespaces(ns))
	share := annotate(v1alpha1.AnnotationAllowSharedIP, "web")

	createService(t, ns, "http", share, ports(80))
	ip := waitForAnyIPs(t, ns, "http", 1)[0]
	createService(t, ns, "https", share, ports(443))
	waitForIPs(t, ns, "https", ip)

	// Same key but the same port: it cannot share, so it gets its own.
	createService(t, ns, "http-again", share, ports(80))
	if got := waitForAnyIPs(t, ns, "http-again", 1)[0]; got == ip {
		t.Errorf("a Service with a clashing port shares %s", ip)
	}
	// Asking for the shared address explicitly with a clashing port fails.
	createService(t, ns, "clash", share, ports(443), annotate(v1alpha1.AnnotationLoadBalancerIPs, ip))
	waitForEvent(t, ns, "clash", controller.EventAllocationFailed, ip, "443")
	// Another key never shares.
	createService(t, ns, "other-key", annotate(v1alpha1.AnnotationAllowSharedIP, "api"), ports(8080), annotate(v1alpha1.AnnotationLoadBalancerIPs, ip))
	waitForEvent(t, ns, "other-key", controller.EventAllocationFailed, ip)

	// Local Services share only when they select the same pods.
	createService(t, ns, "local-a", share, ports(7000), local("backend"))
	lip := waitForAnyIPs(t, ns, "local-a", 1)[0]
	createService(t, ns, "local-b", share, ports(7001), local("backend"))
	waitForIPs(t, ns, "local-b", lip)
	createService(t, ns, "local-c", share, ports(7002), local("frontend"), annotate(v1alpha1.AnnotationLoadBalancerIPs, lip))
	waitForEvent(t, ns, "local-c", controller.EventAllocationFailed, lip)
}

func TestAnExhaustedPoolLeavesTheServicePendingUntilThePoolGrows(t *testing.T) {
	startController(t, controller.Options{})
	ns := namespace(t, nil)
	pool := createPool(t, ns+"-small", []string{"198.51.100.56-198.51.100.57"}, onlyNamespaces(ns))

	createService(t, ns, "one")
	createService(t, ns, "two")
	one := waitForAnyIPs(t, ns, "one", 1)
	two := waitForAnyIPs(t, ns, "two", 1)
	createService(t, ns, "three")
	waitForEvent(t, ns, "three", controller.EventAllocationFailed, ns+"-small")
	// A later pass, which every Service takes part in, fails a marker
	// too: the pending Service has no address after it either. The marker
	// asks for an address in use, so it takes none the pool gains later.
	createService(t, ns, "marker", annotate(v1alpha1.AnnotationLoadBalancerIPs, one[0]))
	waitForEvent(t, ns, "marker", controller.EventAllocationFailed, one[0])
	if got := ingressIPs(getService(t, ns, "three")); len(got) != 0 {
		t.Fatalf("the pending Service got %v from a full pool", got)
	}
	testpoll.Until(t, 10*time.Second, "pool status shows it full", func() (bool, string) {
		var p v1alpha1.IPPool
		_ = k8sClient.Get(context.Background(), client.ObjectKeyFromObject(pool), &p)
		u := p.Status.IPv4
		return u != nil && u.Assigned == 2 && u.Available == 0, fmt.Sprintf("%+v", u)
	})

	updatePool(t, pool.Name, func(p *v1alpha1.IPPool) {
		p.Spec.Addresses = append(p.Spec.Addresses, "198.51.100.58/32")
	})
	var p v1alpha1.IPPool
	waitForIPs(t, ns, "three", "198.51.100.58")
	waitForIPs(t, ns, "one", one...)
	waitForIPs(t, ns, "two", two...)
	testpoll.Until(t, 10*time.Second, "pool status counts the growth", func() (bool, string) {
		_ = k8sClient.Get(context.Background(), client.ObjectKeyFromObject(pool), &p)
		u := p.Status.IPv4
		return u != nil && u.Assigned == 3 && u.Available == 0, fmt.Sprintf("%+v", u)
	})
}

// The pool's counts follow its Services, and drop a family the pool
// loses. The controller writes them in the pass that writes the Services;
// how soon they follow is a matter of speed, which the suite does not time
// on shared machines.
func TestAPoolCountsTheAddressesOfItsServicesPerFamily(t *testing.T) {
	startController(t, controller.Options{})
	ns := namespace(t, nil)
	pool := createPool(t, ns+"-pool", []string{"203.0.113.192/29", "2001:db8:100:40::/124"}, onlyNamespaces(ns))
	usage := func() (*v1alpha1.IPPool, string) {
		var p v1alpha1.IPPool
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(pool), &p); err != nil {
			return &p, err.Error()
		}
		return &p, fmt.Sprintf("ipv4 %+v, ipv6 %+v", p.Status.IPv4, p.Status.IPv6)
	}
	// The pool's first status write, as a new user's pool gets it just
	// before their first Service arrives.
	testpoll.Until(t, 10*time.Second, "the pool's first status", func() (bool, string) {
		p, seen := usage()
		return p.Status.IPv4 != nil, seen
	})

	createService(t, ns, "web", families(corev1.IPFamilyPolicySingleStack, corev1.IPv4Protocol))
	waitForAnyIPs(t, ns, "web", 1)
	testpoll.Until(t, 10*time.Second, "the pool counts the Service's address", func() (bool, string) {
		p, seen := usage()
		return p.Status.IPv4 != nil && p.Status.IPv4.Assigned == 1, seen
	})

	// A family the pool loses leaves its status.
	updatePool(t, pool.Name, func(p *v1alpha1.IPPool) { p.Spec.Addresses = p.Spec.Addresses[:1] })
	testpoll.Until(t, 10*time.Second, "the pool's IPv6 counts gone, its IPv4 counts kept", func() (bool, string) {
		p, seen := usage()
		return p.Status.IPv6 == nil && p.Status.IPv4 != nil && p.Status.IPv4.Assigned == 1, seen
	})
}

func TestAPoolEditMovesOnlyTheServicesWhoseAddressWasDropped(t *testing.T) {
	startController(t, controller.Options{})
	ns := namespace(t, nil)
	pool := createPool(t, ns+"-edit", []string{"198.51.100.64/29"}, onlyNamespaces(ns))
	createService(t, ns, "keep", annotate(v1alpha1.AnnotationLoadBalancerIPs, "198.51.100.65"))
	waitForIPs(t, ns, "keep", "198.51.100.65")
	createService(t, ns, "move", annotate(v1alpha1.AnnotationIPPool, ns+"-edit"))
	moved := waitForAnyIPs(t, ns, "move", 1)[0]

	// Drop exactly the address "move" holds from the pool.
	m := netip.MustParseAddr(moved)
	first, last := netip.MustParseAddr("198.51.100.64"), netip.MustParseAddr("198.51.100.71")
	updatePool(t, pool.Name, func(p *v1alpha1.IPPool) {
		p.Spec.Addresses = nil
		if m != first {
			p.Spec.Addresses = append(p.Spec.Addresses, v1alpha1.AddressRange(first.String()+"-"+m.Prev().String()))
		}
		if m != last {
			p.Spec.Addresses = append(p.Spec.Addresses, v1alpha1.AddressRange(m.Next().String()+"-"+last.String()))
		}
	})
	testpoll.Until(t, 20*time.Second, "the Service outside the edited pool moves", func() (bool, string) {
		got := ingressIPs(getService(t, ns, "move"))
		return len(got) == 1 && got[0] != moved && inRange(t, got[0], "198.51.100.64/29"), fmt.Sprint(got)
	})
	waitForEvent(t, ns, "move", controller.EventIPChanged, ns+"-edit")
	waitForIPs(t, ns, "keep", "198.51.100.65")
	if poolAccepted(t, pool.Name) != metav1.ConditionTrue {
		t.Errorf("the edited pool is not accepted: %+v", poolCondition(t, pool.Name))
	}

	// An edit that breaks the pool keeps its previous version: nobody moves.
	now := getService(t, ns, "move")
	updatePool(t, pool.Name, func(p *v1alpha1.IPPool) {
		p.Spec.ServiceAllocation = &v1alpha1.ServiceAllocation{Namespaces: []string{ns}, ServiceSelectors: []metav1.LabelSelector{{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Sometimes"}},
		}}}
	})
	testpoll.Until(t, 10*time.Second, "the broken edit is reported", func() (bool, string) {
		c := poolCondition(t, pool.Name)
		return c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "Sometimes") && strings.Contains(c.Message, "previous version"), fmt.Sprintf("%+v", c)
	})
	// The pool keeps serving in its previous version: a new Service still
	// gets an address from it.
	createService(t, ns, "after-broken-edit", annotate(v1alpha1.AnnotationIPPool, pool.Name))
	got := waitForAnyIPs(t, ns, "after-broken-edit", 1)
	if !inRange(t, got[0], "198.51.100.64/29") {
		t.Errorf("the Service created after the broken edit got %v", got)
	}
	// The pass that reported the edit and the one that served the new
	// Service have both written their Services: neither moved one.
	if a, b := ingressIPs(getService(t, ns, "keep")), ingressIPs(getService(t, ns, "move")); fmt.Sprint(a) != "[198.51.100.65]" || fmt.Sprint(b) != fmt.Sprint(ingressIPs(now)) {
		t.Errorf("after a broken edit keep has %v and move %v, want [198.51.100.65] and %v", a, b, ingressIPs(now))
	}
}

func TestAddressesAreReleasedOnDeleteAndTypeChange(t *testing.T) {
	startController(t, controller.Options{})
	ns := namespace(t, nil)
	pool := createPool(t, ns+"-one", []string{"198.51.100.80/32"}, onlyNamespaces(ns))
	first := createService(t, ns, "first")
	waitForIPs(t, ns, "first", "198.51.100.80")
	createService(t, ns, "second")
	waitForEvent(t, ns, "second", controller.EventAllocationFailed, ns+"-one")

	if err := k8sClient.Delete(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	waitForIPs(t, ns, "second", "198.51.100.80")

	createService(t, ns, "third")
	waitForEvent(t, ns, "third", controller.EventAllocationFailed, ns+"-one")
	s := getService(t, ns, "second")
	s.Spec.Type = corev1.ServiceTypeClusterIP
	s.Spec.Ports[0].NodePort = 0
	if err := k8sClient.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	waitForEvent(t, ns, "second", controller.EventIPReleased, "198.51.100.80")
	waitForIPs(t, ns, "third", "198.51.100.80")
	testpoll.Until(t, 10*time.Second, "the former LoadBalancer loses status and pool annotation", func() (bool, string) {
		s := getService(t, ns, "second")
		_, annotated := s.Annotations[v1alpha1.AnnotationAssignedPool]
		return len(s.Status.LoadBalancer.Ingress) == 0 && !annotated, fmt.Sprint(ingressIPs(s), s.Annotations)
	})
	var p v1alpha1.IPPool
	_ = k8sClient.Get(context.Background(), client.ObjectKeyFromObject(pool), &p)
	if c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionAccepted); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("pool not accepted: %+v", c)
	}
}

func TestServicesOfAnotherClassAreLeftAlone(t *testing.T) {
	for _, tt := range []struct {
		name, class string
	}{
		{"a controller with a class serves only that class", "bgplb.io/test"},
		{"a controller without a class serves only Services without one", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := startController(t, controller.Options{LoadBalancerClass: tt.class})
			ns := namespace(t, nil)
			createPool(t, ns+"-class", []string{"198.51.100.88/29"}, onlyNamespaces(ns))
			withClass := func(class string) serviceOption {
				return func(s *corev1.Service) {
					if class != "" {
						s.Spec.LoadBalancerClass = ptrTo(class)
					}
				}
			}
			others := map[string]string{"bgplb.io/test": "", "": "bgplb.io/test"}
			createService(t, ns, "other-class", withClass(others[tt.class]))
			createService(t, ns, "third-class", withClass("example.com/other"))
			// Created last: once it has an address, the controller has
			// seen the two before it.
			createService(t, ns, "ours", withClass(tt.class))
			waitForAnyIPs(t, ns, "ours", 1)
			a, b := ingressIPs(getService(t, ns, "other-class")), ingressIPs(getService(t, ns, "third-class"))
			if len(a)+len(b) != 0 {
				t.Errorf("Services of other classes got addresses: %v %v", a, b)
			}
			c.stop(t)
		})
	}
}

// A Service of another class that another bgplb controller (serving that
// class) gave an address keeps it: this controller leaves alone what it
// does not serve, also with bgplb's pool annotation on it.
func TestAServiceOfAnotherClassKeepsWhatAnotherControllerAssigned(t *testing.T) {
	startController(t, controller.Options{})
	ns := namespace(t, nil)
	createPool(t, ns+"-pool", []string{"198.51.100.120/29"}, onlyNamespaces(ns))
	foreign := createService(t, ns, "foreign", func(s *corev1.Service) {
		s.Spec.LoadBalancerClass = ptrTo("bgplb.io/other-instance")
		s.Annotations = map[string]string{v1alpha1.AnnotationAssignedPool: "other-pool"}
	})
	foreign.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.77"}}
	if err := k8sClient.Status().Update(context.Background(), foreign); err != nil {
		t.Fatal(err)
	}
	// Created last: once it has an address, the controller has made a
	// pass that saw the foreign Service as it is now.
	createService(t, ns, "ours")
	waitForAnyIPs(t, ns, "ours", 1)
	got := getService(t, ns, "foreign")
	if ips := ingressIPs(got); len(ips) != 1 || ips[0] != "192.0.2.77" {
		t.Errorf("the foreign Service's addresses became %v, want 192.0.2.77 kept", ips)
	}
	if got.Annotations[v1alpha1.AnnotationAssignedPool] != "other-pool" {
		t.Errorf("the foreign Service's annotations became %v, want its pool annotation kept", got.Annotations)
	}
}

func TestInvalidAndOverlappingPoolsAreReportedAndUnused(t *testing.T) {
	startController(t, controller.Options{})
	ns := namespace(t, nil)
	older := createPool(t, ns+"-older", []string{"198.51.100.96/29"}, onlyNamespaces(ns))
	testpoll.Until(t, 10*time.Second, "the older pool is accepted", func() (bool, string) {
		return poolAccepted(t, older.Name) == metav1.ConditionTrue, ""
	})
	newer := createPool(t, ns+"-newer", []string{"198.51.100.100/30"}, onlyNamespaces(ns))
	badSelector := createPool(t, ns+"-badsel", []string{"198.51.100.104/30"}, func(p *v1alpha1.IPPool) {
		p.Spec.ServiceAllocation = &v1alpha1.ServiceAllocation{NamespaceSelectors: []metav1.LabelSelector{{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Maybe"}},
		}}}
	})
	testpoll.Until(t, 10*time.Second, "the overlapping pool is refused and names the older one", func() (bool, string) {
		c := poolCondition(t, newer.Name)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonOverlap && strings.Contains(c.Message, older.Name), fmt.Sprintf("%+v", c)
	})
	testpoll.Until(t, 10*time.Second, "the pool with a bad selector is refused, quoting it", func() (bool, string) {
		c := poolCondition(t, badSelector.Name)
		return c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "Maybe"), fmt.Sprintf("%+v", c)
	})
	createService(t, ns, "svc", annotate(v1alpha1.AnnotationIPPool, newer.Name))
	waitForEvent(t, ns, "svc", controller.EventAllocationFailed, newer.Name)
	if poolAccepted(t, older.Name) != metav1.ConditionTrue {
		t.Error("the older pool lost its acceptance")
	}
}

func poolCondition(t *testing.T, name string) *metav1.Condition {
	var p v1alpha1.IPPool
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Name: name}, &p); err != nil {
		t.Fatal(err)
	}
	return meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionAccepted)
}

func poolAccepted(t *testing.T, name string) metav1.ConditionStatus {
	if c := poolCondition(t, name); c != nil {
		return c.Status
	}
	return metav1.ConditionUnknown
}

func ptrTo[T any](v T) *T { return &v }

// The speakers announce a Service only when both its address and the pool
// annotation are set, so the controller writes them together: one API
// write per Service, and no moment at which a Service shows an address
// that the speakers do not yet know to be bgplb's.
func TestAddressAndPoolAnnotationArriveInOneWrite(t *testing.T) {
	startController(t, controller.Options{})
	ns := namespace(t, nil)
	createPool(t, ns+"-pool", []string{"198.51.100.64/28"}, onlyNamespaces(ns))
	scheme, err := kubeutil.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Watching from "0" starts at the watch cache's state, whatever its lag.
	w, err := wc.Watch(ctx, &corev1.ServiceList{}, client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	createService(t, ns, "web")

	for ev := range w.ResultChan() {
		s, ok := ev.Object.(*corev1.Service)
		if !ok {
			t.Fatalf("watch ended: %v", ev.Object)
		}
		hasAddr := len(s.Status.LoadBalancer.Ingress) > 0
		_, hasPool := s.Annotations[v1alpha1.AnnotationAssignedPool]
		if hasAddr != hasPool {
			t.Fatalf("%s event shows address %v and pool annotation %v: they were written separately", ev.Type, hasAddr, hasPool)
		}
		if hasAddr {
			return
		}
	}
	t.Fatal("the Service got no address within 30s")
}
