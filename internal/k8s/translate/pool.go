package translate

import (
	"fmt"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/ipam"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
)

// DefaultAutoAssign is an IPPool's autoAssign when it is unset.
const DefaultAutoAssign = true

// AllocatorPool returns the allocator's view of an IPPool.
func AllocatorPool(p *v1alpha1.IPPool) (ipam.Pool, error) {
	pool := ipam.Pool{
		Name:          p.Name,
		AutoAssign:    boolOr(p.Spec.AutoAssign, DefaultAutoAssign),
		AvoidBuggyIPs: p.Spec.AvoidBuggyIPs,
	}
	for i, a := range p.Spec.Addresses {
		r, err := ipam.ParseRange(string(a))
		if err != nil {
			return ipam.Pool{}, fmt.Errorf("spec.addresses[%d]: %w", i, err)
		}
		pool.Ranges = append(pool.Ranges, r)
	}
	if sa := p.Spec.ServiceAllocation; sa != nil {
		pool.Priority = int(sa.Priority)
		pool.Namespaces = sa.Namespaces
		var err error
		if pool.NamespaceSelectors, err = kubeutil.Matchers[ipam.LabelMatcher]("spec.serviceAllocation.namespaceSelectors", sa.NamespaceSelectors); err != nil {
			return ipam.Pool{}, err
		}
		if pool.ServiceSelectors, err = kubeutil.Matchers[ipam.LabelMatcher]("spec.serviceAllocation.serviceSelectors", sa.ServiceSelectors); err != nil {
			return ipam.Pool{}, err
		}
	}
	return pool, nil
}

// AnnouncePools returns the pools as an advertisement's pool selectors
// see them: names and labels.
func AnnouncePools(pools []v1alpha1.IPPool) []announce.Pool {
	out := make([]announce.Pool, 0, len(pools))
	for i := range pools {
		out = append(out, announce.Pool{Name: pools[i].Name, Labels: pools[i].Labels})
	}
	return out
}
