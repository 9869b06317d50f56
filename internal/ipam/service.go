package ipam

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// FamilyPolicy is a Service's spec.ipFamilyPolicy.
type FamilyPolicy string

// The IP family policies Kubernetes defines.
const (
	SingleStack      FamilyPolicy = "SingleStack"
	PreferDualStack  FamilyPolicy = "PreferDualStack"
	RequireDualStack FamilyPolicy = "RequireDualStack"
)

// Port is one port of a Service, as far as address sharing cares.
type Port struct {
	Protocol string // "TCP", "UDP" or "SCTP"; empty means TCP, as in Kubernetes
	Port     int32
}

// String returns the port as "TCP/80".
func (p Port) String() string { return fmt.Sprintf("%s/%d", p.Protocol, p.Port) }

// Service is what the allocator needs to know about one LoadBalancer Service.
type Service struct {
	Key string // "namespace/name"; identity
	// Namespace is the Service's namespace. If empty, the part of Key before
	// the first '/' is used.
	Namespace       string
	Labels          map[string]string
	NamespaceLabels map[string]string
	// Families is spec.ipFamilies as set by the API server, primary first.
	Families []Family
	// Policy is spec.ipFamilyPolicy; empty means SingleStack.
	Policy FamilyPolicy
	// RequestedAddrs comes from the annotation bgplb.io/load-balancer-ips or
	// spec.loadBalancerIP: at most one address per family.
	RequestedAddrs []netip.Addr
	// RequestedPool comes from the annotation bgplb.io/ip-pool.
	RequestedPool string
	// SharingKey comes from the annotation bgplb.io/allow-shared-ip; empty
	// means the Service never shares an address.
	SharingKey string
	Ports      []Port
	// Local is externalTrafficPolicy: Local.
	Local bool
	// PodSelector is the canonical form of spec.selector, compared when two
	// Local Services want to share an address: they must send traffic to the
	// same pods, because the address is announced only from nodes with
	// local endpoints.
	PodSelector string
}

// Assignment is the pool and addresses given to one Service.
type Assignment struct {
	Pool string
	// Addrs is ordered like Service.Families, primary first.
	Addrs []netip.Addr
}

func (asg Assignment) clone() Assignment {
	asg.Addrs = slices.Clone(asg.Addrs)
	return asg
}

// request is a Service after validation and normalisation.
type request struct {
	Service
	namespace string
	policy    FamilyPolicy
	// famBuf[:famCount] are the families to assign, primary first (see
	// families). They live in an array rather than a slice so that a
	// request needs no allocation of its own.
	famBuf   [2]Family
	famCount int
	ports    []Port
}

// families returns the families to assign, primary first. For
// PreferDualStack only the first is required.
func (req *request) families() []Family { return req.famBuf[:req.famCount] }

// init validates svc and fills in req. hint supplies the families when
// svc.Families is empty: the requested addresses for Assign, the adopted
// ones for Adopt.
func (req *request) init(svc *Service, hint []netip.Addr) error {
	if svc.Key == "" {
		return errorOf(ErrInvalidService, "service has no key")
	}
	*req = request{Service: *svc, namespace: svc.Namespace, policy: svc.Policy}
	if req.namespace == "" {
		req.namespace, _, _ = strings.Cut(svc.Key, "/")
	}
	switch req.policy {
	case "":
		req.policy = SingleStack
	case SingleStack, PreferDualStack, RequireDualStack:
	default:
		return errorOf(ErrInvalidService, "service %s has unknown IP family policy %q", svc.Key, string(svc.Policy))
	}

	var buf [2]Family
	fams := buf[:0]
	for _, f := range svc.Families {
		if f != IPv4 && f != IPv6 {
			return errorOf(ErrInvalidService, "service %s has unknown IP family %v", svc.Key, f.String())
		}
		if slices.Contains(fams, f) {
			return errorOf(ErrInvalidService, "service %s lists IP family %v twice", svc.Key, f.String())
		}
		fams = append(fams, f)
	}
	if len(fams) == 0 {
		for _, a := range hint {
			if f := FamilyOf(a); (f == IPv4 || f == IPv6) && !slices.Contains(fams, f) {
				fams = append(fams, f)
			}
		}
	}
	if len(fams) == 0 {
		fams = append(fams, IPv4)
	}
	switch req.policy {
	case SingleStack:
		fams = fams[:1]
	case RequireDualStack:
		// The API server always fills in both families for
		// RequireDualStack; completing them here keeps the rule "both
		// families" true even for a hand-made Service.
		if len(fams) == 1 {
			fams = append(fams, otherFamily(fams[0]))
		}
	}
	req.famCount = copy(req.famBuf[:], fams)

	if len(svc.Ports) > 0 {
		req.ports = make([]Port, len(svc.Ports))
		for i, p := range svc.Ports {
			p.Protocol = strings.ToUpper(p.Protocol)
			if p.Protocol == "" {
				p.Protocol = "TCP"
			}
			req.ports[i] = p
		}
	}
	return nil
}

// familyList formats families like "[IPv4 IPv6]". Formatting a string
// rather than the slice keeps the slice from escaping to the heap.
func familyList(fams []Family) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, f := range fams {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f.String())
	}
	b.WriteByte(']')
	return b.String()
}

func otherFamily(f Family) Family {
	if f == IPv4 {
		return IPv6
	}
	return IPv4
}

// requiredFamilies returns the families the Service cannot do without.
func (req *request) requiredFamilies() []Family {
	if req.policy == PreferDualStack {
		return req.famBuf[:1]
	}
	return req.families()
}

// orderAddrs checks that addrs fit the Service's families (one address per
// family, every required family present) and returns them ordered like
// req.families(). noun names the addresses in errors ("requested address",
// "address").
func (req *request) orderAddrs(addrs []netip.Addr, noun string) ([]netip.Addr, error) {
	if len(addrs) == 0 {
		return nil, errorOf(ErrInvalidService, "service %s: no %s given", req.Key, noun)
	}
	byFamily := make([]netip.Addr, len(req.families()))
	for _, a := range addrs {
		switch {
		case !a.IsValid():
			return nil, errorOf(ErrInvalidService, "service %s: %s is not a valid IP address", req.Key, noun)
		case a.Zone() != "":
			return nil, errorOf(ErrInvalidService, "service %s: %s %q has a zone", req.Key, noun, a.String())
		case a.Is4In6():
			return nil, errorOf(ErrInvalidService, "service %s: %s %q is an IPv4-mapped IPv6 address; use %q", req.Key, noun, a.String(), a.Unmap().String())
		}
		i := slices.Index(req.families(), FamilyOf(a))
		if i < 0 {
			return nil, errorOf(ErrInvalidService, "service %s: %s %q is %v, but the Service's IP families are %s", req.Key, noun, a.String(), FamilyOf(a).String(), familyList(req.families()))
		}
		if byFamily[i].IsValid() {
			return nil, errorOf(ErrInvalidService, "service %s: two %ses are %v (%q and %q), but a Service has at most one address per family", req.Key, noun, FamilyOf(a).String(), byFamily[i].String(), a.String())
		}
		byFamily[i] = a
	}
	for i, f := range req.requiredFamilies() {
		if !byFamily[i].IsValid() {
			return nil, errorOf(ErrInvalidService, "service %s (%s, families %s) needs an %v %s, but none was given", req.Key, string(req.policy), familyList(req.families()), f.String(), noun)
		}
	}
	ordered := make([]netip.Addr, 0, len(addrs))
	for _, a := range byFamily {
		if a.IsValid() {
			ordered = append(ordered, a)
		}
	}
	return ordered, nil
}

// holding is what the allocator remembers about a Service that holds
// addresses: its assignment and the fields that decide whether another
// Service may share them.
type holding struct {
	key         string
	sharingKey  string
	ports       []Port
	local       bool
	podSelector string
	asg         Assignment
}

// update copies the sharing-relevant fields of req, so that later Services
// are checked against the Service as it is now.
func (h *holding) update(req *request) {
	h.key = req.Key
	h.sharingKey = req.SharingKey
	h.ports = slices.Clone(req.ports)
	h.local = req.Local
	h.podSelector = req.PodSelector
}

// canShareWith reports why req may not share addr with h, or nil if it may.
func (req *request) canShareWith(addr netip.Addr, h *holding) error {
	switch {
	case req.SharingKey == "":
		return errorOf(ErrInUse, "address %q is already used by %s (and %s has no sharing key)", addr.String(), h.key, req.Key)
	case h.sharingKey == "":
		return errorOf(ErrInUse, "address %q is already used by %s, which does not allow sharing", addr.String(), h.key)
	case h.sharingKey != req.SharingKey:
		return errorOf(ErrInUse, "address %q is already used by %s (sharing key %q differs from %q)", addr.String(), h.key, h.sharingKey, req.SharingKey)
	}
	for _, p := range req.ports {
		if slices.Contains(h.ports, p) {
			return errorOf(ErrInUse, "cannot share address %q: port %v clashes with %s", addr.String(), p, h.key)
		}
	}
	switch {
	case req.Local != h.local:
		return errorOf(ErrInUse, "cannot share address %q with %s: one Service has externalTrafficPolicy Local and the other Cluster", addr.String(), h.key)
	case req.Local && req.PodSelector != h.podSelector:
		return errorOf(ErrInUse, "cannot share address %q with %s: both have externalTrafficPolicy Local but select different pods (%q and %q)", addr.String(), h.key, req.PodSelector, h.podSelector)
	}
	return nil
}

// holders are the Services holding one address. The first holder is stored
// inline because almost every address has exactly one, which keeps the
// memory per assigned address to a single map entry.
type holders struct {
	first *holding
	more  []*holding
}

func (hs *holders) add(h *holding) {
	if hs.first == nil {
		hs.first = h
		return
	}
	hs.more = append(hs.more, h)
}

// remove drops h and reports whether any holder is left.
func (hs *holders) remove(h *holding) (left bool) {
	if hs.first == h {
		if len(hs.more) == 0 {
			hs.first = nil
			return false
		}
		hs.first = hs.more[0]
		hs.more = slices.Delete(hs.more, 0, 1)
		return true
	}
	if i := slices.Index(hs.more, h); i >= 0 {
		hs.more = slices.Delete(hs.more, i, i+1)
	}
	return hs.first != nil
}

// each calls f for every holder until f returns false.
func (hs holders) each(f func(*holding) bool) {
	if hs.first == nil || !f(hs.first) {
		return
	}
	for _, h := range hs.more {
		if !f(h) {
			return
		}
	}
}
