package translate

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/ipam"
)

// IngressAddrs returns the addresses in a Service's
// status.loadBalancer.ingress, leaving out what is not an address.
func IngressAddrs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// AssignedPool returns the pool the bgplb controller assigned a Service's
// addresses from, and whether it assigned them: it marks the Services it
// gave addresses with the pool annotation.
func AssignedPool(svc *corev1.Service) (string, bool) {
	pool, ok := svc.Annotations[v1alpha1.AnnotationAssignedPool]
	return pool, ok
}

// Announceable tells whether a Service may have addresses to announce: a
// LoadBalancer with addresses that the bgplb controller assigned.
// Addresses another load balancer wrote are its own business.
func Announceable(svc *corev1.Service) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) == 0 {
		return false
	}
	_, ours := AssignedPool(svc)
	return ours
}

// SelectedService returns what an advertisement's selectors look at in a
// Service: its key, labels and assigned pool.
func SelectedService(svc *corev1.Service) announce.Service {
	pool, _ := AssignedPool(svc)
	return announce.Service{Key: ServiceKey(svc), Labels: svc.Labels, Pool: pool}
}

// AnnouncedService returns the Service as the announce rules see it, with
// its addresses and the endpoints of its EndpointSlices, or false if it
// is not Announceable.
func AnnouncedService(svc *corev1.Service, endpointSlices []*discoveryv1.EndpointSlice) (announce.Service, bool) {
	if !Announceable(svc) {
		return announce.Service{}, false
	}
	out := SelectedService(svc)
	out.Local = svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	out.Addrs = IngressAddrs(svc)
	out.Endpoints = Endpoints(endpointSlices)
	return out, len(out.Addrs) > 0
}

// AllocationRequest returns the allocator's request for a Service whose
// namespace has the labels nsLabels. An error means the Service asks for
// addresses in a malformed way; the request is returned all the same,
// without them, so that the Service's current addresses can be adopted.
func AllocationRequest(svc *corev1.Service, nsLabels map[string]string) (ipam.Service, error) {
	s := ipam.Service{
		Key:             ServiceKey(svc),
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
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		s.Ports = append(s.Ports, ipam.Port{Protocol: string(proto), Port: p.Port})
	}
	requested, err := RequestedAddrs(svc)
	s.RequestedAddrs = requested
	return s, err
}

// RequestedAddrs reads the addresses a Service asks for: the bgplb
// annotation, a comma-separated list, or else the deprecated
// spec.loadBalancerIP. Each must be a plain address (no zone, not
// IPv4-mapped), listed once.
func RequestedAddrs(svc *corev1.Service) ([]netip.Addr, error) {
	if value, ok := svc.Annotations[v1alpha1.AnnotationLoadBalancerIPs]; ok {
		field := "annotation " + v1alpha1.AnnotationLoadBalancerIPs
		var addrs []netip.Addr
		for item := range strings.SplitSeq(value, ",") {
			a, err := requestedAddr(field, item)
			if err != nil {
				return nil, err
			}
			if slices.Contains(addrs, a) {
				return nil, fmt.Errorf("%s: address %q listed twice", field, strings.TrimSpace(item))
			}
			addrs = append(addrs, a)
		}
		return addrs, nil
	}
	if strings.TrimSpace(svc.Spec.LoadBalancerIP) == "" {
		return nil, nil
	}
	a, err := requestedAddr("spec.loadBalancerIP", svc.Spec.LoadBalancerIP)
	if err != nil {
		return nil, err
	}
	return []netip.Addr{a}, nil
}

// requestedAddr reads one requested address, ignoring the spaces around
// it.
func requestedAddr(field, value string) (netip.Addr, error) {
	value = strings.TrimSpace(value)
	a, err := netip.ParseAddr(value)
	if err != nil || a.Zone() != "" || a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%s: invalid address %q", field, value)
	}
	return a, nil
}
