package translate_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

func pool(change func(*v1alpha1.IPPoolSpec)) *v1alpha1.IPPool {
	p := &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "lab", Labels: map[string]string{"zone": "a"}},
		Spec: v1alpha1.IPPoolSpec{Addresses: []v1alpha1.AddressRange{"203.0.113.0/24", "2001:db8:100::10-2001:db8:100::20"}}}
	if change != nil {
		change(&p.Spec)
	}
	return p
}

func TestAPoolsFieldsAndTheirDefaults(t *testing.T) {
	got, err := translate.AllocatorPool(pool(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "lab" || !got.AutoAssign || got.AvoidBuggyIPs || got.Priority != 0 || len(got.Ranges) != 2 ||
		got.Ranges[0].String() != "203.0.113.0/24" || got.Ranges[1].String() != "2001:db8:100::10-2001:db8:100::20" {
		t.Errorf("pool %+v; want autoAssign by default and the two ranges", got)
	}
	got, err = translate.AllocatorPool(pool(func(s *v1alpha1.IPPoolSpec) {
		s.AutoAssign, s.AvoidBuggyIPs = ptr.To(false), true
		s.ServiceAllocation = &v1alpha1.ServiceAllocation{Priority: 3, Namespaces: []string{"shop"},
			NamespaceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"team": "a"}}},
			ServiceSelectors:   []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "front"}}}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got.AutoAssign || !got.AvoidBuggyIPs || got.Priority != 3 || len(got.Namespaces) != 1 ||
		len(got.NamespaceSelectors) != 1 || !got.NamespaceSelectors[0].Matches(map[string]string{"team": "a"}) ||
		len(got.ServiceSelectors) != 1 || got.ServiceSelectors[0].Matches(map[string]string{"tier": "back"}) {
		t.Errorf("pool %+v; want the service allocation taken over", got)
	}
}

func TestAPoolFaultNamesTheFieldAndQuotesTheValue(t *testing.T) {
	bad := badSelectors
	tests := []struct {
		name   string
		change func(*v1alpha1.IPPoolSpec)
		want   []string
	}{
		{"a bad range", func(s *v1alpha1.IPPoolSpec) { s.Addresses = append(s.Addresses, "203.0.113.7/24") },
			[]string{"spec.addresses[2]: ", `"203.0.113.7/24"`}},
		{"a bad namespace selector", func(s *v1alpha1.IPPoolSpec) {
			s.ServiceAllocation = &v1alpha1.ServiceAllocation{NamespaceSelectors: bad}
		},
			[]string{"spec.serviceAllocation.namespaceSelectors[0]: ", `"Sometimes"`}},
		{"a bad Service selector", func(s *v1alpha1.IPPoolSpec) { s.ServiceAllocation = &v1alpha1.ServiceAllocation{ServiceSelectors: bad} },
			[]string{"spec.serviceAllocation.serviceSelectors[0]: ", `"Sometimes"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := translate.AllocatorPool(pool(tt.change))
			wantFault(t, err, tt.want)
		})
	}
}

func TestAnnouncePoolsAreNamesAndLabels(t *testing.T) {
	got := translate.AnnouncePools([]v1alpha1.IPPool{*pool(nil)})
	if len(got) != 1 || got[0].Name != "lab" || got[0].Labels["zone"] != "a" {
		t.Errorf("AnnouncePools = %+v", got)
	}
	if got := translate.AnnouncePools(nil); got == nil || len(got) != 0 {
		t.Errorf("AnnouncePools(nil) = %#v, want an empty list", got)
	}
}
