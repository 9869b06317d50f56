package translate_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/ipam"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// inRange maps v into [low, high], the range the API server enforces.
func inRange(v, low, high int64) int64 {
	span := high - low + 1
	return low + ((v%span)+span)%span
}

// A BFD profile's timers are its fields in milliseconds, each field the
// engine ignores is reported once, and the profile reads the same after
// a trip through JSON.
func FuzzBFDProfile(f *testing.F) {
	f.Fuzz(func(t *testing.T, receive, transmit, multiplier, ttl int32, passive bool, set uint8) {
		field := func(bit uint8, v int32, low, high int64) *int32 {
			if set&bit == 0 {
				return nil
			}
			in := int32(inRange(int64(v), low, high))
			return &in
		}
		p := &v1alpha1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: "fuzzed"}, Spec: v1alpha1.BFDProfileSpec{
			ReceiveInterval: field(1, receive, 10, 60000), TransmitInterval: field(2, transmit, 10, 60000),
			DetectMultiplier: field(4, multiplier, 2, 255), MinimumTTL: field(8, ttl, 1, 254), PassiveMode: passive,
		}}
		b := translate.BFD(&p.Spec)
		ms := func(v *int32) time.Duration {
			if v == nil {
				return translate.DefaultBFDInterval
			}
			return time.Duration(*v) * time.Millisecond
		}
		if b.ReceiveInterval != ms(p.Spec.ReceiveInterval) || b.TransmitInterval != ms(p.Spec.TransmitInterval) || b.DetectMultiplier < 2 ||
			(p.Spec.DetectMultiplier != nil && int32(b.DetectMultiplier) != *p.Spec.DetectMultiplier) {
			t.Fatalf("profile %+v gives BFD %+v", p.Spec, *b)
		}
		limitations := translate.BFDLimitations(&p.Spec)
		want := 0
		if passive {
			want++
		}
		if ttl := p.Spec.MinimumTTL; ttl != nil && *ttl != translate.DefaultBFDMinimumTTL {
			want++
			if !strings.Contains(strings.Join(limitations, "; "), "spec.minimumTTL "+strconv.Itoa(int(*ttl))+":") {
				t.Fatalf("limitations %q do not name minimumTTL %d", limitations, *ttl)
			}
		}
		if len(limitations) != want {
			t.Fatalf("profile %+v: limitations %q, want %d", p.Spec, limitations, want)
		}
		sameTranslation(t, "BFD", b, translate.BFD(&viaJSON(t, p).Spec), nil, nil)
	})
}

// A pool's addresses are its ranges, each reading the same when written
// back; a fault names the first address or selector at fault; and the
// pool reads the same after a trip through JSON.
func FuzzIPPool(f *testing.F) {
	f.Fuzz(func(t *testing.T, addresses string, autoAssign uint8, avoidBuggyIPs bool, priority int32, key, value, operator, values string) {
		p := &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "fuzzed"}, Spec: v1alpha1.IPPoolSpec{AvoidBuggyIPs: avoidBuggyIPs}}
		for _, a := range strings.Split(addresses, "\n") {
			p.Spec.Addresses = append(p.Spec.Addresses, v1alpha1.AddressRange(a))
		}
		if autoAssign%3 > 0 {
			enabled := autoAssign%3 == 1
			p.Spec.AutoAssign = &enabled
		}
		if selectors := fuzzSelectors(key, value, operator, values); priority != 0 || selectors != nil {
			p.Spec.ServiceAllocation = &v1alpha1.ServiceAllocation{Priority: int32(inRange(int64(priority), 1, 1<<31-1)),
				NamespaceSelectors: selectors, ServiceSelectors: selectors}
		}
		pool, err := translate.AllocatorPool(p)
		checkPool(t, p, pool, err)
		if allUTF8(addresses, key, value, operator, values) {
			again, errAgain := translate.AllocatorPool(viaJSON(t, p))
			sameTranslation(t, "pool", pool, again, err, errAgain)
			if err == nil && !slices.EqualFunc(pool.Ranges, again.Ranges, func(a, b ipam.Range) bool { return a == b }) {
				t.Fatalf("ranges %v, after a trip through JSON %v", pool.Ranges, again.Ranges)
			}
		}
	})
}

// checkPool fails the test unless a pool's translation says what the
// pool says, or names the first address at fault.
func checkPool(t *testing.T, p *v1alpha1.IPPool, pool ipam.Pool, err error) {
	t.Helper()
	firstBad := slices.IndexFunc(p.Spec.Addresses, func(a v1alpha1.AddressRange) bool {
		_, err := ipam.ParseRange(string(a))
		return err != nil
	})
	if firstBad >= 0 {
		if want := "spec.addresses[" + strconv.Itoa(firstBad) + "]: "; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("addresses %q: error %v, want one starting %q", p.Spec.Addresses, err, want)
		}
		return
	}
	if err != nil {
		if !strings.HasPrefix(err.Error(), "spec.serviceAllocation.") {
			t.Fatalf("addresses %q all read, yet error %v names no selector", p.Spec.Addresses, err)
		}
		return
	}
	if len(pool.Ranges) != len(p.Spec.Addresses) || pool.AutoAssign != (p.Spec.AutoAssign == nil || *p.Spec.AutoAssign) {
		t.Fatalf("pool %+v from %+v", pool, p.Spec)
	}
	for _, r := range pool.Ranges {
		if again, err := ipam.ParseRange(r.String()); err != nil || again != r {
			t.Fatalf("range %v written as %q reads back as %v, %v", r, r.String(), again, err)
		}
	}
}

// A usable advertisement passes announce.Validate and keeps what it says;
// a fault names its field; and the advertisement reads the same after a
// trip through JSON.
func FuzzAdvertisement(f *testing.F) {
	f.Fuzz(func(t *testing.T, communities, start, end, zone string, aggregation, aggregationV6, localPref, prepend int64, key, value, operator, values string) {
		a := &v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "fuzzed"}, Spec: v1alpha1.BGPAdvertisementSpec{
			AggregationLength:   ptrTo(int32(inRange(aggregation, 0, 32))),
			AggregationLengthV6: ptrTo(int32(inRange(aggregationV6, 0, 128))),
			LocalPref:           ptrTo(inRange(localPref, 0, 1<<32-1)),
			ServiceSelectors:    fuzzSelectors(key, value, operator, values),
		}}
		if communities != "" {
			for _, c := range strings.Split(communities, ",") {
				a.Spec.Communities = append(a.Spec.Communities, v1alpha1.Community(c))
			}
		}
		if prepend != 0 {
			a.Spec.ASPathPrepend = &v1alpha1.ASPathPrepend{Count: int32(inRange(prepend, 1, 16))}
		}
		if start != "" || end != "" || zone != "" {
			a.Spec.AdditionHold = &v1alpha1.AdditionHold{Windows: []v1alpha1.ChangeWindow{{Start: start, End: end, TimeZone: zone}}}
		}
		adv, err := translate.UsableAdvertisement(a)
		checkAdvertisement(t, a, adv, err)
		if allUTF8(communities, start, end, zone, key, value, operator, values) {
			again, errAgain := translate.UsableAdvertisement(viaJSON(t, a))
			sameTranslation(t, "advertisement", adv, again, err, errAgain)
			if err == nil && adv.AdditionHold != nil && !slices.EqualFunc(adv.AdditionHold.Windows, again.AdditionHold.Windows,
				func(a, b announce.Window) bool { return a.String() == b.String() }) {
				t.Fatalf("windows %v, after a trip through JSON %v", adv.AdditionHold.Windows, again.AdditionHold.Windows)
			}
		}
	})
}

// checkAdvertisement fails the test unless a fault names its field (or,
// found by announce.Validate, quotes a community), and a usable
// advertisement keeps what it says and its windows read the same when
// written back.
func checkAdvertisement(t *testing.T, a *v1alpha1.BGPAdvertisement, adv announce.Advertisement, err error) {
	t.Helper()
	if err != nil {
		quotesCommunity := slices.ContainsFunc(a.Spec.Communities, func(c v1alpha1.Community) bool {
			return strings.Contains(err.Error(), strconv.Quote(string(c)))
		})
		if !strings.HasPrefix(err.Error(), "spec.") && !quotesCommunity {
			t.Fatalf("error %q names no field and quotes no community of %q", err, a.Spec.Communities)
		}
		return
	}
	if *adv.AggregationLength != int(*a.Spec.AggregationLength) || *adv.AggregationLengthV6 != int(*a.Spec.AggregationLengthV6) ||
		int64(*adv.LocalPref) != *a.Spec.LocalPref || len(adv.Communities) != len(a.Spec.Communities) {
		t.Fatalf("advertisement %+v from %+v", adv, a.Spec)
	}
	if a.Spec.AdditionHold == nil {
		return
	}
	for _, w := range adv.AdditionHold.Windows {
		start, rest, _ := strings.Cut(w.String(), "-")
		end, zone, _ := strings.Cut(rest, " ")
		again, err := announce.ParseWindow(start, end, zone)
		if err != nil || again.String() != w.String() {
			t.Fatalf("window %v reads back as %v, %v", w, again, err)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
