package datapath_test

import (
	"fmt"
	"net/netip"

	"github.com/bgplb/bgplb/internal/datapath"
)

// A flow's bucket is what the kernel program computes for every packet of
// the flow; an IPv4 flow hashes alike given as IPv4 or as v4-mapped IPv6.
func ExampleBucket() {
	flow := datapath.Tuple{
		Source:      netip.MustParseAddr("198.51.100.7"),
		Destination: netip.MustParseAddr("192.0.2.10"),
		SourcePort:  40000, DestinationPort: 443, Protocol: 6,
	}
	mapped := flow
	mapped.Source = netip.AddrFrom16(flow.Source.As16())
	mapped.Destination = netip.AddrFrom16(flow.Destination.As16())
	fmt.Println(datapath.Bucket(flow, 4093), datapath.Bucket(mapped, 4093))
	// Output: 2320 2320
}
