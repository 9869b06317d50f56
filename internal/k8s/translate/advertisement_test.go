package translate_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

func advertisement(change func(*v1alpha1.BGPAdvertisementSpec)) *v1alpha1.BGPAdvertisement {
	a := &v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "public"}}
	if change != nil {
		change(&a.Spec)
	}
	return a
}

func TestAnAdvertisementsAttributesAreTakenOver(t *testing.T) {
	got, err := translate.UsableAdvertisement(advertisement(func(s *v1alpha1.BGPAdvertisementSpec) {
		s.IPPools, s.Peers = []string{"lab"}, []string{"router"}
		s.LocalPref, s.MED = ptr.To[int64](200), ptr.To[int64](4294967295)
		s.AggregationLength, s.AggregationLengthV6 = ptr.To[int32](24), ptr.To[int32](64)
		s.Communities = []v1alpha1.Community{"65000:1", "65000:2:3"}
		s.ASPathPrepend = &v1alpha1.ASPathPrepend{Count: 2}
		s.DrainOnCordon, s.WeightByEndpoints = true, true
		s.AdditionHold = &v1alpha1.AdditionHold{MinDelay: &metav1.Duration{Duration: time.Minute},
			Windows: []v1alpha1.ChangeWindow{{Start: "22:00", End: "02:00", TimeZone: "Europe/Berlin"}}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "public" || got.Pools[0] != "lab" || got.Peers[0] != "router" || *got.LocalPref != 200 || *got.MED != 4294967295 ||
		*got.AggregationLength != 24 || *got.AggregationLengthV6 != 64 || len(got.Communities) != 2 || got.Communities[1] != "65000:2:3" ||
		got.ASPathPrepend.Count != 2 || got.ASPathPrepend.ASN != 0 || !got.DrainOnCordon || !got.WeightByEndpoints ||
		got.AdditionHold.MinDelay != time.Minute || len(got.AdditionHold.Windows) != 1 || got.AdditionHold.Windows[0].Location.String() != "Europe/Berlin" {
		t.Errorf("advertisement %+v", got)
	}
	// Unset attributes stay unset.
	got, err = translate.UsableAdvertisement(advertisement(nil))
	if err != nil || got.LocalPref != nil || got.MED != nil || got.AggregationLength != nil || got.ASPathPrepend != nil || got.AdditionHold != nil {
		t.Errorf("advertisement without attributes %+v, %v", got, err)
	}
	got, _ = translate.Advertisement(advertisement(func(s *v1alpha1.BGPAdvertisementSpec) {
		s.ASPathPrepend = &v1alpha1.ASPathPrepend{Count: 1, ASN: ptr.To[int64](64999)}
	}))
	if got.ASPathPrepend.ASN != 64999 {
		t.Errorf("prepend %+v, want ASN 64999", got.ASPathPrepend)
	}
}

// badSelectors holds a selector with an operator Kubernetes does not know,
// which the API server cannot refuse.
var badSelectors = []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Sometimes"}}}}

// wantFault fails the test unless err contains every fragment.
func wantFault(t *testing.T, err error, fragments []string) {
	t.Helper()
	for _, f := range fragments {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("error %v, want one containing %q", err, f)
		}
	}
}

func TestAnAdvertisementFaultNamesTheFieldAndQuotesTheValue(t *testing.T) {
	bad := badSelectors
	tests := []struct {
		name   string
		change func(*v1alpha1.BGPAdvertisementSpec)
		want   []string
	}{
		{"a bad pool selector", func(s *v1alpha1.BGPAdvertisementSpec) { s.IPPoolSelectors = bad }, []string{"spec.ipPoolSelectors[0]: ", `"Sometimes"`}},
		{"a bad Service selector", func(s *v1alpha1.BGPAdvertisementSpec) { s.ServiceSelectors = bad }, []string{"spec.serviceSelectors[0]: "}},
		{"a bad node selector", func(s *v1alpha1.BGPAdvertisementSpec) { s.NodeSelectors = bad }, []string{"spec.nodeSelectors[0]: "}},
		{"an unknown time zone", func(s *v1alpha1.BGPAdvertisementSpec) {
			s.AdditionHold = &v1alpha1.AdditionHold{Windows: []v1alpha1.ChangeWindow{{Start: "01:00", End: "02:00"}, {Start: "01:00", End: "02:00", TimeZone: "Mars/Olympus"}}}
		}, []string{"spec.additionHold.windows[1]: ", `"Mars/Olympus"`}},
		{"an invalid community, found by announce.Validate", func(s *v1alpha1.BGPAdvertisementSpec) { s.Communities = []v1alpha1.Community{"65000:x"} },
			[]string{`"65000:x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := translate.UsableAdvertisement(advertisement(tt.change))
			wantFault(t, err, tt.want)
		})
	}
}
