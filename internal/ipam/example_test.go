package ipam_test

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/bgplb/bgplb/internal/ipam"
)

// ranges parses pool ranges written by hand; a typo is a bug in the
// example, so it panics.
func ranges(ss ...string) []ipam.Range {
	out := make([]ipam.Range, len(ss))
	for i, s := range ss {
		r, err := ipam.ParseRange(s)
		if err != nil {
			panic(err)
		}
		out[i] = r
	}
	return out
}

// A pool's addresses are CIDR prefixes or inclusive first-last ranges. A
// prefix with host bits set is refused rather than masked, since it is most
// likely a typo.
func ExampleParseRange() {
	for _, s := range []string{"203.0.113.0/24", "203.0.113.10 - 203.0.113.20", "2001:db8:100::/120", "203.0.113.7/24"} {
		r, err := ipam.ParseRange(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s: %v, %d addresses from %v to %v\n", r, r.Family(), r.Size(), r.First(), r.Last())
	}
	// Output:
	// 203.0.113.0/24: IPv4, 256 addresses from 203.0.113.0 to 203.0.113.255
	// 203.0.113.10-203.0.113.20: IPv4, 11 addresses from 203.0.113.10 to 203.0.113.20
	// 2001:db8:100::/120: IPv6, 256 addresses from 2001:db8:100:: to 2001:db8:100::ff
	// invalid range "203.0.113.7/24": host bits are set (did you mean "203.0.113.0/24"?)
}

// SetPools takes the whole pool set at once. A pool whose ranges overlap a
// pool in use is rejected and not used; the others are. Usage counts per
// family what each pool has handed out and can still hand out: the IPv6
// /120 has one address less, its subnet-router anycast address, which is
// never handed out.
func ExampleAllocator_SetPools() {
	a := ipam.NewAllocator()
	rejected, moved := a.SetPools([]ipam.Pool{
		{Name: "public", Ranges: ranges("203.0.113.0/24", "2001:db8:100::/120"), AutoAssign: true, AvoidBuggyIPs: true},
		// AutoAssign false: only Services that ask for the pool get its addresses.
		{Name: "reserved", Ranges: ranges("198.51.100.0/28")},
		{Name: "clash", Ranges: ranges("203.0.113.128/25"), AutoAssign: true},
	})
	fmt.Println("rejected:", rejected)
	fmt.Println("moved:", moved)
	for _, name := range []string{"public", "reserved", "clash"} {
		fmt.Println(name, a.Usage(name))
	}
	// Output:
	// rejected: map[clash:pool "clash": range "203.0.113.128/25" overlaps range "203.0.113.0/24" of pool "public"]
	// moved: []
	// public map[IPv4:{0 254} IPv6:{0 255}]
	// reserved map[IPv4:{0 16}]
	// clash map[]
}

// A Service gets the lowest free address of the first pool that allows it,
// one per IP family. Assigning again returns the same assignment.
func ExampleAllocator_Assign() {
	a := ipam.NewAllocator()
	a.SetPools([]ipam.Pool{{Name: "public", Ranges: ranges("203.0.113.0/24", "2001:db8:100::/64"), AutoAssign: true}})

	web := ipam.Service{Key: "shop/web", Families: []ipam.Family{ipam.IPv4, ipam.IPv6}, Policy: ipam.RequireDualStack}
	asg, err := a.Assign(web)
	fmt.Println(asg.Pool, asg.Addrs, err)
	asg, err = a.Assign(web)
	fmt.Println(asg.Pool, asg.Addrs, err)

	db := ipam.Service{Key: "shop/db", Families: []ipam.Family{ipam.IPv4}}
	asg, err = a.Assign(db)
	fmt.Println(asg.Pool, asg.Addrs, err)
	// Output:
	// public [203.0.113.0 2001:db8:100::1] <nil>
	// public [203.0.113.0 2001:db8:100::1] <nil>
	// public [203.0.113.1] <nil>
}

// A Service may ask for addresses (spec.loadBalancerIP or the
// bgplb.io/load-balancer-ips annotation). A refusal says why, quoting the
// address, and wraps a sentinel error that tells the kind of fault.
func ExampleAllocator_Assign_requested() {
	a := ipam.NewAllocator()
	a.SetPools([]ipam.Pool{{Name: "v6", Ranges: ranges("2001:db8:100::/64"), AutoAssign: true}})

	for _, addr := range []string{"2001:db8:100::10", "2001:db8:100::", "2001:db8:200::1"} {
		svc := ipam.Service{Key: "shop/web", Families: []ipam.Family{ipam.IPv6}, RequestedAddrs: []netip.Addr{netip.MustParseAddr(addr)}}
		asg, err := a.Assign(svc)
		switch {
		case errors.Is(err, ipam.ErrNotAllowed):
			fmt.Println("not allowed:", err)
		case errors.Is(err, ipam.ErrNoPool):
			fmt.Println("no pool:", err)
		default:
			fmt.Println(asg.Addrs, err)
		}
	}
	// Output:
	// [2001:db8:100::10] <nil>
	// not allowed: address "2001:db8:100::" is the subnet-router anycast address of 2001:db8:100::/64 (RFC 4291 section 2.6.1), which routers answer themselves; pool "v6" never hands it out
	// no pool: address "2001:db8:200::1" is not in any pool
}

// Services with the same sharing key share an address as long as their
// ports do not clash. The address stays held until its last holder is
// released, and Usage counts it once.
func ExampleAllocator_Assign_sharing() {
	a := ipam.NewAllocator()
	a.SetPools([]ipam.Pool{{Name: "public", Ranges: ranges("203.0.113.0/24"), AutoAssign: true}})

	sharer := func(name string, port int32) ipam.Service {
		return ipam.Service{Key: "shop/" + name, SharingKey: "shop", Ports: []ipam.Port{{Protocol: "TCP", Port: port}}}
	}
	for _, s := range []ipam.Service{sharer("web", 80), sharer("api", 443), sharer("metrics", 80)} {
		asg, err := a.Assign(s)
		fmt.Println(s.Key, asg.Addrs, err)
	}
	fmt.Println(a.Usage("public"))

	a.Release("shop/web")
	fmt.Println("after web left:", a.Usage("public"))
	a.Release("shop/api")
	fmt.Println("after api left:", a.Usage("public"))
	// Output:
	// shop/web [203.0.113.0] <nil>
	// shop/api [203.0.113.0] <nil>
	// shop/metrics [203.0.113.1] <nil>
	// map[IPv4:{2 254}]
	// after web left: map[IPv4:{2 254}]
	// after api left: map[IPv4:{1 255}]
}

// At start-up a controller adopts the addresses Services already have, before
// it assigns anything new, so that a restart changes no Service's address.
func ExampleAllocator_Adopt() {
	a := ipam.NewAllocator()
	a.SetPools([]ipam.Pool{{Name: "public", Ranges: ranges("203.0.113.0/24"), AutoAssign: true}})

	web := ipam.Service{Key: "shop/web"}
	if _, err := a.Adopt(web, []netip.Addr{netip.MustParseAddr("203.0.113.7")}); err != nil {
		fmt.Println(err)
	}
	asg, _ := a.Assign(web)
	fmt.Println("web keeps", asg.Addrs)
	asg, _ = a.Assign(ipam.Service{Key: "shop/db"})
	fmt.Println("db gets", asg.Addrs)
	// Output:
	// web keeps [203.0.113.7]
	// db gets [203.0.113.0]
}

// Capacity counts a pool's addresses exactly, however large: here the
// IPv4 /24 less .0 and .255, and the IPv6 /64 less its subnet-router anycast
// address, 2^64-1.
func ExamplePool_Capacity() {
	p := ipam.Pool{Name: "public", Ranges: ranges("203.0.113.0/24", "2001:db8:100::/64"), AvoidBuggyIPs: true}
	capacity := p.Capacity()
	fmt.Println(capacity[ipam.IPv4], capacity[ipam.IPv6])
	// Output: 254 18446744073709551615
}

// namespaceIs matches labels whose kubernetes.io/metadata.name label is one
// name, as a Kubernetes namespace selector would.
type namespaceIs string

func (n namespaceIs) Matches(labels map[string]string) bool {
	return labels["kubernetes.io/metadata.name"] == string(n)
}

// A pool can be limited to some namespaces, by name or by a label selector
// (any LabelMatcher), and ordered before other pools with Priority.
func ExamplePool() {
	a := ipam.NewAllocator()
	a.SetPools([]ipam.Pool{
		{Name: "shop-only", Ranges: ranges("198.51.100.0/28"), AutoAssign: true, Priority: 1,
			NamespaceSelectors: []ipam.LabelMatcher{namespaceIs("shop")}},
		{Name: "general", Ranges: ranges("203.0.113.0/24"), AutoAssign: true},
	})
	for _, ns := range []string{"shop", "blog"} {
		svc := ipam.Service{Key: ns + "/web", NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": ns}}
		asg, _ := a.Assign(svc)
		fmt.Println(svc.Key, asg.Pool, asg.Addrs)
	}
	_, err := a.Assign(ipam.Service{Key: "blog/db", RequestedPool: "shop-only"})
	fmt.Println(err)
	// Output:
	// shop/web shop-only [198.51.100.0]
	// blog/web general [203.0.113.0]
	// pool "shop-only" does not allow namespace "blog"
}
