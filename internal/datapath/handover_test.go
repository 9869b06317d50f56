//go:build linux

package datapath

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"
)

// The datapath owns the tunnel device across restarts: a speaker that
// takes over the datapath also takes over what an earlier speaker did to
// the device, and its Close removes a device an earlier speaker made and
// puts back the settings an earlier speaker changed.
func TestTheNextSpeakerTakesTheTunnelDeviceOver(t *testing.T) {
	for _, tc := range []struct {
		name string
		// existing makes the device the first speaker finds, if any.
		existing []string
		// check checks the device after the last speaker closed.
		check   func(t *testing.T)
		finding string
	}{
		{
			name: "made by the first speaker",
			check: func(t *testing.T) {
				if _, err := netlink.LinkByName(DefaultTunnelDevice().Name); err == nil {
					t.Error("the device an earlier speaker made is still there after Close")
				}
			},
			finding: "tunnel device bgplb-vx0 was made by an earlier speaker of this node",
		},
		{
			name:     "found by the first speaker",
			existing: []string{"ip", "link", "add", "bgplb-vx0", "address", "02:00:00:00:00:99", "mtu", "1400", "type", "vxlan", "external", "dstport", "4799"},
			check: func(t *testing.T) {
				link, err := netlink.LinkByName(DefaultTunnelDevice().Name)
				if err != nil {
					t.Fatalf("Close removed a device it did not make: %v", err)
				}
				attrs := link.Attrs()
				if attrs.HardwareAddr.String() != "02:00:00:00:00:99" || attrs.MTU != 1400 || attrs.Flags&net.FlagUp != 0 {
					t.Errorf("after Close: MAC %s, MTU %d, flags %v; want the device as the first speaker found it", attrs.HardwareAddr, attrs.MTU, attrs.Flags)
				}
			},
			finding: "tunnel device bgplb-vx0 was found by an earlier speaker of this node",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNodeNetns(t)
			if tc.existing != nil {
				inNetnsCommand(t, ns, tc.existing...)
			}
			opts := nodeOptions(t)
			opts.Device = DefaultTunnelDevice()
			opts.Device.MTU = 1450
			first := openNodeIn(t, ns, opts)
			applyPlan(t, first)
			if err := first.Leave(); err != nil {
				t.Fatal(err)
			}
			opts.Device = TunnelDevice{}
			second := openNodeIn(t, ns, opts)
			requireFinding(t, second.Findings().Found, tc.finding)
			if err := second.Close(); err != nil {
				t.Fatal(err)
			}
			inNetns(t, ns, func() { tc.check(t) })
		})
	}
}
