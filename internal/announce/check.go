package announce

// Validate checks an advertisement on its own, as Compute does: the error
// wraps ErrInvalidAdvertisement and lists every problem. It cannot see
// conflicts between advertisements, which depend on the node.
func Validate(ad Advertisement) error {
	_, err := validate(&ad)
	return err
}

// Selects reports whether the advertisement announces the Service's
// addresses on a node it applies to, judged by its pools and Service
// selectors; pools gives the labels for pool selectors.
func Selects(ad Advertisement, pools []Pool, svc Service) bool {
	c := computation{pools: poolLabels(pools)}
	a := &active{advertisement: &advertisement{Advertisement: &ad}}
	return c.selectsPool(a, svc.Pool) && matchesOptional(ad.ServiceSelectors, svc.Labels)
}

// AppliesToNode reports whether the advertisement applies to a node with
// the given labels, as Compute decides it: its node selectors, if any,
// must match them.
func AppliesToNode(ad Advertisement, nodeLabels map[string]string) bool {
	return matchesOptional(ad.NodeSelectors, nodeLabels)
}

// AnnounceableFrom reports whether the Service's endpoints let the named
// node announce it: for a Local Service an endpoint there, for a Cluster
// Service one anywhere (ready ones, or serving ones while none is ready).
func (s *Service) AnnounceableFrom(node string) bool {
	return announcedFrom(s, node)
}
