package controller_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/internal/k8s/controller"
	"github.com/bgplb/bgplb/internal/testpoll"
)

// createServices creates n Services named prefix-i with the given number
// of parallel clients.
func createServices(t *testing.T, ns, prefix string, n, parallel int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range parallel {
		wg.Go(func() {
			for i := range next {
				if err := k8sClient.Create(context.Background(), serviceObject(ns, fmt.Sprintf("%s-%d", prefix, i))); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("create service: %v", err)
	}
}

// addressesIn returns every Service of the namespace with its addresses
// and resource version.
func addressesIn(t *testing.T, ns string) (map[string][]string, map[string]string) {
	t.Helper()
	var list corev1.ServiceList
	if err := k8sClient.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	ips := map[string][]string{}
	versions := map[string]string{}
	for _, s := range list.Items {
		ips[s.Name] = ingressIPs(&s)
		versions[s.Name] = s.ResourceVersion
	}
	return ips, versions
}

func waitAllAssigned(t *testing.T, ns string, n int, timeout time.Duration) map[string][]string {
	t.Helper()
	var ips map[string][]string
	testpoll.Until(t, timeout, fmt.Sprintf("all %d Services get an address", n), func() (bool, string) {
		ips, _ = addressesIn(t, ns)
		assigned := 0
		for _, a := range ips {
			if len(a) == 1 {
				assigned++
			}
		}
		return assigned == n && len(ips) == n, fmt.Sprintf("%d of %d assigned", assigned, len(ips))
	})
	return ips
}

func assertNoDuplicates(t *testing.T, ips map[string][]string) {
	t.Helper()
	owner := map[string]string{}
	for name, addrs := range ips {
		for _, a := range addrs {
			if other, taken := owner[a]; taken {
				t.Errorf("address %s is held by both %s and %s", a, other, name)
			}
			owner[a] = name
		}
	}
}

func TestFiveHundredServicesKeepTheirAddressesAcrossARestart(t *testing.T) {
	ns := namespace(t, nil)
	createPool(t, ns+"-big", []string{"100.64.0.0/22"}, onlyNamespaces(ns))
	first := startController(t, controller.Options{})
	createServices(t, ns, "svc", 500, 8)
	before := waitAllAssigned(t, ns, 500, 60*time.Second)
	assertNoDuplicates(t, before)
	first.stop(t)

	// While no controller runs, an address is freed and new Services wait:
	// a restarted controller that assigned before adopting would hand the
	// lowest free addresses, which the existing Services hold, to these.
	freed := before["svc-0"][0]
	if err := k8sClient.Delete(context.Background(), serviceObject(ns, "svc-0")); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		createService(t, ns, fmt.Sprintf("aaa-new-%d", i))
	}
	_, versionsBefore := addressesIn(t, ns)

	startController(t, controller.Options{})
	after := waitAllAssigned(t, ns, 504, 60*time.Second)
	assertNoDuplicates(t, after)
	for name, addrs := range before {
		if name == "svc-0" {
			continue
		}
		if fmt.Sprint(after[name]) != fmt.Sprint(addrs) {
			t.Errorf("%s moved from %v to %v across the restart", name, addrs, after[name])
		}
	}
	gotFreed := false
	for i := range 5 {
		gotFreed = gotFreed || after[fmt.Sprintf("aaa-new-%d", i)][0] == freed
	}
	if !gotFreed {
		t.Errorf("the address %s freed during the restart was not reused", freed)
	}
	// The restarted controller writes only what changed: the untouched
	// Services keep their resource versions.
	_, versionsAfter := addressesIn(t, ns)
	for name := range before {
		if name != "svc-0" && versionsAfter[name] != versionsBefore[name] {
			t.Errorf("%s was rewritten after the restart", name)
			break
		}
	}
}

func TestOneThousandServicesCreatedConcurrentlyWithTwoReplicasGetDistinctAddresses(t *testing.T) {
	ns := namespace(t, nil)
	createPool(t, ns+"-big", []string{"100.65.0.0/21"}, onlyNamespaces(ns))
	opts := controller.Options{
		LeaderElection:          true,
		LeaderElectionNamespace: "bgplb-system",
		LeaderElectionID:        "bgplb-controller-" + ns,
		LeaseDuration:           4 * time.Second,
		RenewDeadline:           3 * time.Second,
		RetryPeriod:             500 * time.Millisecond,
	}
	a := startController(t, opts)
	b := startController(t, opts)
	var leader, follower *runningController
	select {
	case <-a.mgr.Elected():
		leader, follower = a, b
	case <-b.mgr.Elected():
		leader, follower = b, a
	case <-time.After(30 * time.Second):
		t.Fatal("no replica became leader")
	}

	// Half the Services arrive while the first leader runs; then it stops
	// and the other replica takes over while the rest arrive.
	createServices(t, ns, "first", 500, 8)
	leader.stop(t)
	createServices(t, ns, "second", 500, 8)
	select {
	case <-follower.mgr.Elected():
	case <-time.After(30 * time.Second):
		t.Fatal("the second replica never took over")
	}
	ips := waitAllAssigned(t, ns, 1000, 90*time.Second)
	assertNoDuplicates(t, ips)
}
