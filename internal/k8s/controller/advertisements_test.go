package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/controller"
	"github.com/bgplb/bgplb/internal/k8s/testenv"
	"github.com/bgplb/bgplb/internal/testpoll"
)

// countingTransport counts the requests other than reads whose path ends
// in suffix.
type countingTransport struct {
	next   http.RoundTripper
	suffix string
	count  *atomic.Int64
}

func (c countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && strings.HasSuffix(req.URL.Path, c.suffix) {
		c.count.Add(1)
	}
	return c.next.RoundTrip(req)
}

// startControllerCountingWrites starts a controller whose API client counts
// its writes to paths ending in suffix.
func startControllerCountingWrites(t *testing.T, suffix string) *atomic.Int64 {
	t.Helper()
	count := &atomic.Int64{}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper {
		return countingTransport{next: next, suffix: suffix, count: count}
	})
	opts, _ := oneOfMany(controller.Options{CheckPasswordSecrets: true})
	mgr, err := controller.NewManager(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	testenv.RunUntilCleanup(t, "controller", mgr)
	return count
}

func createAdvertisement(t *testing.T, name string, spec v1alpha1.BGPAdvertisementSpec) *v1alpha1.BGPAdvertisement {
	t.Helper()
	ad := &v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if err := k8sClient.Create(context.Background(), ad); err != nil {
		t.Fatalf("create advertisement %s: %v", name, err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), ad) })
	return ad
}

func getAdvertisement(t *testing.T, name string) *v1alpha1.BGPAdvertisement {
	t.Helper()
	var ad v1alpha1.BGPAdvertisement
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Name: name}, &ad); err != nil {
		t.Fatalf("get advertisement %s: %v", name, err)
	}
	return &ad
}

// updateAdvertisement applies change to the newest version of an
// advertisement, retrying when the controller's status writes race with it.
func updateAdvertisement(t *testing.T, name string, change func(*v1alpha1.BGPAdvertisement)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var ad v1alpha1.BGPAdvertisement
		if err := k8sClient.Get(context.Background(), client.ObjectKey{Name: name}, &ad); err != nil {
			return err
		}
		change(&ad)
		return k8sClient.Update(context.Background(), &ad)
	})
	if err != nil {
		t.Fatalf("update advertisement %s: %v", name, err)
	}
}

// updateService applies change to the newest version of a Service.
func updateService(t *testing.T, ns, name string, change func(*corev1.Service)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var s corev1.Service
		if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
			return err
		}
		change(&s)
		return k8sClient.Update(context.Background(), &s)
	})
	if err != nil {
		t.Fatalf("update service %s/%s: %v", ns, name, err)
	}
}

func showCondition(c *metav1.Condition) string {
	if c == nil {
		return "no condition"
	}
	return fmt.Sprintf("%s=%s reason %s generation %d: %s", c.Type, c.Status, c.Reason, c.ObservedGeneration, c.Message)
}

// waitForAdvertisementCondition waits until the advertisement's current
// generation has been observed and the condition shows the status and
// reason with a message containing every fragment; it returns the
// advertisement as last read.
func waitForAdvertisementCondition(t *testing.T, name, condType string, status metav1.ConditionStatus, reason string, fragments ...string) *v1alpha1.BGPAdvertisement {
	t.Helper()
	var ad *v1alpha1.BGPAdvertisement
	what := fmt.Sprintf("advertisement %s shows %s=%s with reason %s mentioning %q", name, condType, status, reason, fragments)
	testpoll.Until(t, 20*time.Second, what, func() (bool, string) {
		ad = getAdvertisement(t, name)
		c := meta.FindStatusCondition(ad.Status.Conditions, condType)
		seen := fmt.Sprintf("generation %d, observed %d, %s", ad.Generation, ad.Status.ObservedGeneration, showCondition(c))
		if c == nil || ad.Status.ObservedGeneration != ad.Generation || c.ObservedGeneration != ad.Generation ||
			c.Status != status || c.Reason != reason {
			return false, seen
		}
		for _, f := range fragments {
			if !strings.Contains(c.Message, f) {
				return false, seen
			}
		}
		return true, ""
	})
	return ad
}

func holdWindow(start, end, zone string) *v1alpha1.AdditionHold {
	return &v1alpha1.AdditionHold{Windows: []v1alpha1.ChangeWindow{{Start: start, End: end, TimeZone: zone}}}
}

func TestAValidAdvertisementBecomesAcceptedWithItsObservedGeneration(t *testing.T) {
	startController(t, controller.Options{})
	name := namespace(t, nil)
	createAdvertisement(t, name, v1alpha1.BGPAdvertisementSpec{
		Communities:  []v1alpha1.Community{"65000:100", "no-export"},
		AdditionHold: holdWindow("02:00", "04:00", "Europe/Berlin"),
	})
	ad := waitForAdvertisementCondition(t, name, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
	if c := meta.FindStatusCondition(ad.Status.Conditions, v1alpha1.ConditionWeighted); c != nil {
		t.Errorf("advertisement without weightByEndpoints shows %s", showCondition(c))
	}

	// An edit is observed: the next generation shows up in the status.
	updateAdvertisement(t, name, func(a *v1alpha1.BGPAdvertisement) { a.Spec.MED = ptrTo[int64](50) })
	ad = waitForAdvertisementCondition(t, name, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
	if ad.Generation < 2 {
		t.Errorf("generation after an edit = %d, want at least 2", ad.Generation)
	}
}

func TestAnUnknownTimeZoneIsRefusedNamingTheFieldUntilItIsFixed(t *testing.T) {
	startController(t, controller.Options{})
	name := namespace(t, nil)
	createAdvertisement(t, name, v1alpha1.BGPAdvertisementSpec{AdditionHold: holdWindow("02:00", "04:00", "Mars/Olympus_Mons")})
	waitForAdvertisementCondition(t, name, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonInvalid,
		"spec.additionHold.windows[0]", `"Mars/Olympus_Mons"`, "keep using the last valid version")

	updateAdvertisement(t, name, func(a *v1alpha1.BGPAdvertisement) { a.Spec.AdditionHold.Windows[0].TimeZone = "America/New_York" })
	waitForAdvertisementCondition(t, name, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
}

// The CRD's pattern accepts any two times of day, so only the controller
// can tell that a window from 02:00 to 02:00 is empty.
func TestAWindowThatEndsWhenItStartsIsRefusedByTheController(t *testing.T) {
	startController(t, controller.Options{})
	name := namespace(t, nil)
	createAdvertisement(t, name, v1alpha1.BGPAdvertisementSpec{AdditionHold: holdWindow("02:00", "02:00", "UTC")})
	waitForAdvertisementCondition(t, name, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonInvalid,
		"spec.additionHold.windows[0]", "02:00-02:00")
}

func TestAWindowTimeWithoutTwoDigitHoursIsRefusedByTheAPIServer(t *testing.T) {
	name := namespace(t, nil)
	ad := &v1alpha1.BGPAdvertisement{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.BGPAdvertisementSpec{AdditionHold: holdWindow("2:00", "04:00", "UTC")},
	}
	err := k8sClient.Create(context.Background(), ad)
	if err == nil {
		_ = k8sClient.Delete(context.Background(), ad)
		t.Fatal("the API server accepted a window starting at 2:00")
	}
	if !apierrors.IsInvalid(err) {
		t.Fatalf("create returned %v, want an Invalid error", err)
	}
	for _, want := range []string{"spec.additionHold.windows[0].start", `"2:00"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// A negative minDelay is refused by the API server, naming the field.
func TestANegativeMinDelayIsRefusedByTheAPIServer(t *testing.T) {
	name := namespace(t, nil)
	ad := &v1alpha1.BGPAdvertisement{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.BGPAdvertisementSpec{AdditionHold: &v1alpha1.AdditionHold{MinDelay: &metav1.Duration{Duration: -5 * time.Minute}}},
	}
	err := k8sClient.Create(context.Background(), ad)
	if err == nil {
		_ = k8sClient.Delete(context.Background(), ad)
		t.Fatal("the API server accepted a negative minDelay")
	}
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.additionHold") || !strings.Contains(err.Error(), "negative") {
		t.Fatalf("create returned %v, want an Invalid error naming spec.additionHold", err)
	}
}

func TestWeightByEndpointsReportsClusterServicesUntilTheyAreLocal(t *testing.T) {
	startController(t, controller.Options{})
	ns := namespace(t, nil)
	pool := createPool(t, ns+"-pool", []string{"198.51.100.96/28"}, onlyNamespaces(ns))
	name := ns
	createAdvertisement(t, name, v1alpha1.BGPAdvertisementSpec{IPPools: []string{pool.Name}, WeightByEndpoints: true})

	// Without Services there is nothing announced without weight.
	waitForAdvertisementCondition(t, name, v1alpha1.ConditionWeighted, metav1.ConditionTrue, v1alpha1.ReasonWeighted)

	createService(t, ns, "web")
	waitForAnyIPs(t, ns, "web", 1)
	waitForAdvertisementCondition(t, name, v1alpha1.ConditionWeighted, metav1.ConditionFalse, v1alpha1.ReasonClusterServices,
		ns+"/web", "Cluster")

	createService(t, ns, "api")
	waitForAnyIPs(t, ns, "api", 1)
	waitForAdvertisementCondition(t, name, v1alpha1.ConditionWeighted, metav1.ConditionFalse, v1alpha1.ReasonClusterServices,
		"2 selected Services", ns+"/api")

	// Each Service that turns Local leaves the report; the last one
	// leaves it True.
	updateService(t, ns, "api", func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal })
	waitForAdvertisementCondition(t, name, v1alpha1.ConditionWeighted, metav1.ConditionFalse, v1alpha1.ReasonClusterServices,
		"Service "+ns+"/web has")
	updateService(t, ns, "web", func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal })
	waitForAdvertisementCondition(t, name, v1alpha1.ConditionWeighted, metav1.ConditionTrue, v1alpha1.ReasonWeighted)

	// Without the option the condition goes away.
	updateAdvertisement(t, name, func(a *v1alpha1.BGPAdvertisement) { a.Spec.WeightByEndpoints = false })
	testpoll.Until(t, 20*time.Second, "the Weighted condition is removed", func() (bool, string) {
		ad := getAdvertisement(t, name)
		c := meta.FindStatusCondition(ad.Status.Conditions, v1alpha1.ConditionWeighted)
		return c == nil && ad.Status.ObservedGeneration == ad.Generation, showCondition(c)
	})
}

// In a steady state the controller writes nothing: passes caused by
// changes that alter no condition leave the advertisement untouched.
func TestSettledConditionsAreNotWrittenAgain(t *testing.T) {
	ns := namespace(t, nil)
	name := ns
	// The API server leaves the resourceVersion alone when a write changes
	// nothing, so the writes themselves are counted as well.
	writes := startControllerCountingWrites(t, "/bgpadvertisements/"+name+"/status")
	pool := createPool(t, ns+"-pool", []string{"198.51.100.112/28"}, onlyNamespaces(ns))
	createAdvertisement(t, name, v1alpha1.BGPAdvertisementSpec{IPPools: []string{pool.Name}, WeightByEndpoints: true})
	createService(t, ns, "web")
	waitForAnyIPs(t, ns, "web", 1)
	waitForAdvertisementCondition(t, name, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
	settled := waitForAdvertisementCondition(t, name, v1alpha1.ConditionWeighted, metav1.ConditionFalse, v1alpha1.ReasonClusterServices, ns+"/web")
	settledWrites := writes.Load()

	touches := []func(i int){
		func(i int) {
			updateService(t, ns, "web", func(s *corev1.Service) {
				if s.Labels == nil {
					s.Labels = map[string]string{}
				}
				s.Labels["touched"] = fmt.Sprint(i)
			})
		},
		func(i int) {
			updatePool(t, pool.Name, func(p *v1alpha1.IPPool) {
				if p.Labels == nil {
					p.Labels = map[string]string{}
				}
				p.Labels["touched"] = fmt.Sprint(i)
			})
		},
	}
	for i := range 4 {
		touches[i%len(touches)](i)
		// The pass that handles an advertisement created after the touch
		// also sees the touch; once the new advertisement shows its
		// condition, that pass has run.
		witness := fmt.Sprintf("%s-w%d", name, i)
		createAdvertisement(t, witness, v1alpha1.BGPAdvertisementSpec{IPPools: []string{"no-such-pool"}})
		waitForAdvertisementCondition(t, witness, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
		if got := getAdvertisement(t, name); got.ResourceVersion != settled.ResourceVersion {
			t.Fatalf("after pass %d the settled advertisement was written again: resourceVersion %s, was %s; conditions %v",
				i, got.ResourceVersion, settled.ResourceVersion, got.Status.Conditions)
		}
		if n := writes.Load(); n != settledWrites {
			t.Fatalf("after pass %d the controller had sent %d status writes of the settled advertisement, %d when it settled", i, n, settledWrites)
		}
	}
}
