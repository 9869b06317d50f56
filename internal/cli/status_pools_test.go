package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bgplb/bgplb/api/v1alpha1"
)

// withAddresses gives a test pool its spec.addresses.
func withAddresses(p v1alpha1.IPPool, addresses ...string) v1alpha1.IPPool {
	for _, a := range addresses {
		p.Spec.Addresses = append(p.Spec.Addresses, v1alpha1.AddressRange(a))
	}
	return p
}

func TestPoolTotalsAreExactAtAnySize(t *testing.T) {
	saturated := int64(1<<63 - 1)
	tests := []struct {
		name                     string
		pool                     v1alpha1.IPPool
		wantAvailable, wantTotal json.Number
	}{
		{
			name:          "a saturated status takes the size from the spec, less the subnet-router anycast address",
			pool:          withAddresses(testPool("p", nil, &v1alpha1.FamilyUsage{Assigned: 1, Available: saturated}, acceptedTrue), "2001:db8:100::/64"),
			wantAvailable: "18446744073709551614", wantTotal: "18446744073709551615",
		},
		{
			name:          "a /48 is far beyond a uint64",
			pool:          withAddresses(testPool("p", nil, &v1alpha1.FamilyUsage{Assigned: 0, Available: saturated}, acceptedTrue), "2001:db8:100::/48"),
			wantAvailable: "1208925819614629174640640", wantTotal: "1208925819614629174640640",
		},
		{
			name:          "a status that is not saturated is taken as it is",
			pool:          withAddresses(testPool("p", nil, &v1alpha1.FamilyUsage{Assigned: 2, Available: 253}, acceptedTrue), "2001:db8:100::/64"),
			wantAvailable: "253", wantTotal: "255",
		},
		{
			name:          "a spec smaller than the saturated status (it changed since) leaves the status's lower bound",
			pool:          withAddresses(testPool("p", nil, &v1alpha1.FamilyUsage{Assigned: 1, Available: saturated}, acceptedTrue), "2001:db8:100::/120"),
			wantAvailable: "9223372036854775807", wantTotal: "9223372036854775808",
		},
		{
			name:          "an unreadable spec leaves the status's lower bound",
			pool:          withAddresses(testPool("p", nil, &v1alpha1.FamilyUsage{Assigned: 1, Available: saturated}, acceptedTrue), "2001:db8:100::1/64"),
			wantAvailable: "9223372036854775807", wantTotal: "9223372036854775808",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reports := poolReports([]v1alpha1.IPPool{tt.pool})
			if len(reports) != 1 {
				t.Fatalf("got %d reports, want 1: %+v", len(reports), reports)
			}
			if r := reports[0]; r.Family != "IPv6" || r.Available != tt.wantAvailable || r.Total != tt.wantTotal {
				t.Errorf("got %s available %s of %s, want IPv6 available %s of %s", r.Family, r.Available, r.Total, tt.wantAvailable, tt.wantTotal)
			}
		})
	}
}

func TestPoolTotalsAreJSONNumbers(t *testing.T) {
	pool := withAddresses(testPool("p", nil, &v1alpha1.FamilyUsage{Assigned: 1, Available: 1<<63 - 1}, acceptedTrue), "2001:db8:100::/64")
	out, err := json.Marshal(poolReports([]v1alpha1.IPPool{pool}))
	if err != nil {
		t.Fatal(err)
	}
	if want := `"available":18446744073709551614,"total":18446744073709551615,`; !strings.Contains(string(out), want) {
		t.Errorf("JSON %s lacks %s", out, want)
	}
}
