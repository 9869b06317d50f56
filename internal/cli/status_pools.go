package cli

import (
	"encoding/json"
	"math"
	"math/big"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/ipam"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// poolReport is one IP family of one pool; a pool without usage in its
// status yet has one report with an empty family.
type poolReport struct {
	Name   string `json:"name"`
	Family string `json:"family"`
	// Assigned, Available and Total (their sum) count addresses. Available
	// and Total are exact JSON numbers of any size, since an IPv6 pool can
	// hold up to 2^128 addresses.
	Assigned    int64       `json:"assigned"`
	Available   json.Number `json:"available"`
	Total       json.Number `json:"total"`
	UsedPercent float64     `json:"usedPercent"`
	// Accepted is the pool's Accepted condition; Message is its message
	// when the condition is not True, or says that it is missing.
	Accepted bool   `json:"accepted"`
	Message  string `json:"message,omitempty"`
}

func poolReports(pools []v1alpha1.IPPool) []poolReport {
	out := []poolReport{}
	sorted := slices.Clone(pools)
	slices.SortFunc(sorted, func(a, b v1alpha1.IPPool) int { return strings.Compare(a.Name, b.Name) })
	for i := range sorted {
		p := &sorted[i]
		accepted, message := true, ""
		switch c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionAccepted); {
		case c == nil:
			accepted, message = false, "no Accepted condition yet (is the controller running?)"
		case c.Status != metav1.ConditionTrue:
			accepted, message = false, c.Message
			if message == "" {
				message = c.Reason
			}
		}
		base := poolReport{Name: p.Name, Accepted: accepted, Message: message}
		capacity := specCapacity(p)
		families := []struct {
			family ipam.Family
			usage  *v1alpha1.FamilyUsage
		}{{ipam.IPv4, p.Status.IPv4}, {ipam.IPv6, p.Status.IPv6}}
		added := false
		for _, f := range families {
			if f.usage == nil {
				continue
			}
			out = append(out, familyReport(base, f.family, f.usage, capacity[f.family]))
			added = true
		}
		if !added {
			out = append(out, base)
		}
	}
	return out
}

// familyReport counts one family of a pool from its status. The status
// saturates the available count at the largest int64, which every IPv6
// pool of a /65 or more reaches; there the count comes from capacity, the
// size of the pool as its spec gives it, unless the spec disagrees with
// the status (it changed since), which leaves the status's lower bound.
func familyReport(base poolReport, f ipam.Family, usage *v1alpha1.FamilyUsage, capacity *big.Int) poolReport {
	assigned, available := big.NewInt(usage.Assigned), big.NewInt(usage.Available)
	if usage.Available == math.MaxInt64 && capacity != nil {
		if fromSpec := new(big.Int).Sub(capacity, assigned); fromSpec.Cmp(available) > 0 {
			available = fromSpec
		}
	}
	total := new(big.Int).Add(assigned, available)
	pr := base
	pr.Family, pr.Assigned = f.String(), usage.Assigned
	pr.Available, pr.Total = json.Number(available.String()), json.Number(total.String())
	if total.Sign() > 0 {
		used, _ := new(big.Rat).SetFrac(assigned, total).Float64()
		pr.UsedPercent = math.Round(1000*used) / 10
	}
	return pr
}

// specCapacity returns how many addresses per family the pool's spec holds,
// less those the pool never hands out, or nil if the spec cannot be read.
func specCapacity(p *v1alpha1.IPPool) map[ipam.Family]*big.Int {
	pool, err := translate.AllocatorPool(p)
	if err != nil {
		return nil
	}
	return pool.Capacity()
}
