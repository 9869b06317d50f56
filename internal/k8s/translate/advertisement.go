package translate

import (
	"fmt"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
)

// Advertisement returns the announce rules' view of a BGPAdvertisement.
// It checks the selectors and change windows; announce.Validate checks
// the rest (communities, aggregation lengths).
func Advertisement(a *v1alpha1.BGPAdvertisement) (announce.Advertisement, error) {
	adv := announce.Advertisement{
		Name:              a.Name,
		Pools:             a.Spec.IPPools,
		Peers:             a.Spec.Peers,
		LocalPref:         uint32Ptr(a.Spec.LocalPref),
		MED:               uint32Ptr(a.Spec.MED),
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
	adv.AdditionHold, err = additionHold(a.Spec.AdditionHold)
	return adv, err
}

// UsableAdvertisement is Advertisement followed by announce.Validate: the
// advertisement as the speakers use it, or why they refuse it.
func UsableAdvertisement(a *v1alpha1.BGPAdvertisement) (announce.Advertisement, error) {
	adv, err := Advertisement(a)
	if err == nil {
		err = announce.Validate(adv)
	}
	return adv, err
}

// additionHold translates spec.additionHold; nil stays nil.
func additionHold(h *v1alpha1.AdditionHold) (*announce.Hold, error) {
	if h == nil {
		return nil, nil
	}
	hold := &announce.Hold{}
	if h.MinDelay != nil {
		hold.MinDelay = h.MinDelay.Duration
	}
	for i, w := range h.Windows {
		win, err := announce.ParseWindow(w.Start, w.End, w.TimeZone)
		if err != nil {
			return hold, fmt.Errorf("spec.additionHold.windows[%d]: %w", i, err)
		}
		hold.Windows = append(hold.Windows, win)
	}
	return hold, nil
}
