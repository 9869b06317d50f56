// Package translate turns bgplb's configuration objects into the plain
// values of the announce rules, for the speaker that applies them and the
// controller that reports whether they are accepted.
package translate

import (
	"fmt"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
)

// Advertisement returns the announce rules' view of a BGPAdvertisement.
// An error names the field and quotes the value it cannot use.
func Advertisement(a *v1alpha1.BGPAdvertisement) (announce.Advertisement, error) {
	adv := announce.Advertisement{
		Name:              a.Name,
		Pools:             a.Spec.IPPools,
		Peers:             a.Spec.Peers,
		LocalPref:         Uint32Ptr(a.Spec.LocalPref),
		MED:               Uint32Ptr(a.Spec.MED),
		ASPathPrepend:     nil,
		DrainOnCordon:     a.Spec.DrainOnCordon,
		WeightByEndpoints: a.Spec.WeightByEndpoints,
	}
	if l := a.Spec.AggregationLength; l != nil {
		v := int(*l)
		adv.AggregationLength = &v
	}
	if l := a.Spec.AggregationLengthV6; l != nil {
		v := int(*l)
		adv.AggregationLengthV6 = &v
	}
	for _, c := range a.Spec.Communities {
		adv.Communities = append(adv.Communities, string(c))
	}
	if p := a.Spec.ASPathPrepend; p != nil {
		adv.ASPathPrepend = &announce.Prepend{Count: int(p.Count)}
		if p.ASN != nil {
			adv.ASPathPrepend.ASN = uint32(*p.ASN)
		}
	}
	var err error
	if adv.PoolSelectors, err = kubeutil.Matchers[announce.LabelMatcher]("spec.ipPoolSelectors", a.Spec.IPPoolSelectors); err != nil {
		return adv, err
	}
	if adv.ServiceSelectors, err = kubeutil.Matchers[announce.LabelMatcher]("spec.serviceSelectors", a.Spec.ServiceSelectors); err != nil {
		return adv, err
	}
	if adv.NodeSelectors, err = kubeutil.Matchers[announce.LabelMatcher]("spec.nodeSelectors", a.Spec.NodeSelectors); err != nil {
		return adv, err
	}
	if h := a.Spec.AdditionHold; h != nil {
		adv.AdditionHold = &announce.Hold{}
		if h.MinDelay != nil {
			adv.AdditionHold.MinDelay = h.MinDelay.Duration
		}
		for i, w := range h.Windows {
			win, err := announce.ParseWindow(w.Start, w.End, w.TimeZone)
			if err != nil {
				return adv, fmt.Errorf("spec.additionHold.windows[%d]: %w", i, err)
			}
			adv.AdditionHold.Windows = append(adv.AdditionHold.Windows, win)
		}
	}
	return adv, nil
}

// Uint32Ptr converts an API integer that validation keeps in range.
func Uint32Ptr(v *int64) *uint32 {
	if v == nil {
		return nil
	}
	u := uint32(*v)
	return &u
}
