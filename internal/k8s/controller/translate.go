package controller

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/ipam"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
)

// poolFromAPI turns an IPPool into the allocator's model. An error quotes
// the field and value that could not be used.
func poolFromAPI(p *v1alpha1.IPPool) (ipam.Pool, error) {
	pool := ipam.Pool{
		Name:          p.Name,
		AutoAssign:    p.Spec.AutoAssign == nil || *p.Spec.AutoAssign,
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

// serviceFromAPI turns a Service into the allocator's request. An error
// means the Service asks for something malformed; it quotes the value, and
// the returned request leaves out what could not be read.
func serviceFromAPI(svc *corev1.Service, nsLabels map[string]string) (ipam.Service, error) {
	s := ipam.Service{
		Key:             svc.Namespace + "/" + svc.Name,
		Namespace:       svc.Namespace,
		Labels:          svc.Labels,
		NamespaceLabels: nsLabels,
		RequestedPool:   strings.TrimSpace(svc.Annotations[v1alpha1.AnnotationIPPool]),
		SharingKey:      strings.TrimSpace(svc.Annotations[v1alpha1.AnnotationAllowSharedIP]),
		Local:           svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal,
		PodSelector:     labels.SelectorFromSet(svc.Spec.Selector).String(),
	}
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			s.Families = append(s.Families, ipam.IPv4)
		case corev1.IPv6Protocol:
			s.Families = append(s.Families, ipam.IPv6)
		}
	}
	if p := svc.Spec.IPFamilyPolicy; p != nil {
		s.Policy = ipam.FamilyPolicy(*p)
	}
	for _, p := range svc.Spec.Ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = string(corev1.ProtocolTCP)
		}
		s.Ports = append(s.Ports, ipam.Port{Protocol: proto, Port: p.Port})
	}
	// On a malformed request the rest of the description is still
	// returned, so that the Service's current addresses can be adopted.
	requested, err := requestedAddrs(svc)
	s.RequestedAddrs = requested
	return s, err
}

// requestedAddrs reads the addresses a Service asks for: the bgplb
// annotation, or else the deprecated spec.loadBalancerIP.
func requestedAddrs(svc *corev1.Service) ([]netip.Addr, error) {
	if value, ok := svc.Annotations[v1alpha1.AnnotationLoadBalancerIPs]; ok {
		var addrs []netip.Addr
		for field := range strings.SplitSeq(value, ",") {
			field = strings.TrimSpace(field)
			a, err := netip.ParseAddr(field)
			if err != nil || a.Zone() != "" || a.Is4In6() {
				return nil, fmt.Errorf("annotation %s: invalid address %q", v1alpha1.AnnotationLoadBalancerIPs, field)
			}
			if slices.Contains(addrs, a) {
				return nil, fmt.Errorf("annotation %s: address %q listed twice", v1alpha1.AnnotationLoadBalancerIPs, field)
			}
			addrs = append(addrs, a)
		}
		return addrs, nil
	}
	if v := strings.TrimSpace(svc.Spec.LoadBalancerIP); v != "" {
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" || a.Is4In6() {
			return nil, fmt.Errorf("spec.loadBalancerIP: invalid address %q", v)
		}
		return []netip.Addr{a}, nil
	}
	return nil, nil
}

// ingressAddrs reads the addresses already in a Service's status.
func ingressAddrs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil {
			out = append(out, a)
		}
	}
	return out
}
