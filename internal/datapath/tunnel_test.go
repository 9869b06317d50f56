//go:build linux

package datapath

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

var testDevice = TunnelDevice{Name: "vx0", MAC: testTunnelMAC, DestinationPort: 4789, MTU: 1500}

func ensureTunnel(t *testing.T, device TunnelDevice) *Tunnel {
	t.Helper()
	tunnel, err := EnsureTunnelDevice(device)
	if err != nil {
		t.Fatal(err)
	}
	return tunnel
}

func requireLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func sysctlIn(t *testing.T, path string) int {
	t.Helper()
	value, err := readSysctl(path)
	if err != nil {
		t.Fatal(err)
	}
	return value
}

func TestEnsureTunnelDeviceCreatesItAndCloseRemovesIt(t *testing.T) {
	inNetns(t, newNetns(t, "node"), func() {
		tunnel := ensureTunnel(t, testDevice)
		requireLines(t, "found", tunnel.Found, []string{"no device vx0", "net.ipv4.conf.all.rp_filter=0, net.ipv4.conf.vx0.rp_filter=0"})
		requireLines(t, "changed", tunnel.Changed, []string{"created device vx0: VXLAN, external, UDP port 4789, MAC 02:62:67:6c:62:00, MTU 1500"})
		link, err := netlink.LinkByName("vx0")
		if err != nil {
			t.Fatal(err)
		}
		vxlan, ok := link.(*netlink.Vxlan)
		if !ok || !vxlan.FlowBased || vxlan.Port != 4789 || vxlan.HardwareAddr.String() != testTunnelMAC.String() || vxlan.Flags&net.FlagUp == 0 || tunnel.Ifindex != vxlan.Index {
			t.Fatalf("device %+v, want an external VXLAN device on port 4789 with MAC %s, up, index %d", link, testTunnelMAC, tunnel.Ifindex)
		}

		again := ensureTunnel(t, testDevice)
		requireLines(t, "found the second time", again.Found, []string{
			"device vx0: VXLAN, external, UDP port 4789, MAC 02:62:67:6c:62:00, MTU 1500",
			"net.ipv4.conf.all.rp_filter=0, net.ipv4.conf.vx0.rp_filter=0",
		})
		requireLines(t, "changed the second time", again.Changed, nil)
		if err := again.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := netlink.LinkByName("vx0"); err != nil {
			t.Fatalf("closing what found the device removed it: %v", err)
		}
		if err := tunnel.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := netlink.LinkByName("vx0"); err == nil {
			t.Fatal("the device is still there after closing what created it")
		}
	})
}

// With strict filtering host-wide, the device is made loose and given an
// address, and "all" is left as it was.
func TestEnsureTunnelDeviceMakesFilteringLooseWhereItIsOnForAll(t *testing.T) {
	ns := newNetns(t, "node")
	inNetnsCommand(t, ns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.default.rp_filter=1")
	inNetns(t, ns, func() {
		tunnel := ensureTunnel(t, testDevice)
		defer tunnel.Close()
		requireLines(t, "found", tunnel.Found, []string{"no device vx0", "net.ipv4.conf.all.rp_filter=1, net.ipv4.conf.vx0.rp_filter=1"})
		requireLines(t, "changed", tunnel.Changed, []string{
			"created device vx0: VXLAN, external, UDP port 4789, MAC 02:62:67:6c:62:00, MTU 1500",
			"net.ipv4.conf.vx0.rp_filter: 1 -> 2",
			"device vx0: added 169.254.19.1/32 (loose reverse-path filtering needs an IPv4 address on the device)",
		})
		if all, device := sysctlIn(t, "net/ipv4/conf/all/rp_filter"), sysctlIn(t, "net/ipv4/conf/vx0/rp_filter"); all != 1 || device != 2 {
			t.Errorf("rp_filter all=%d vx0=%d, want all untouched (1) and vx0 loose (2)", all, device)
		}
	})
}

// With filtering off host-wide, a device that starts strict (from
// "default") is turned off.
func TestEnsureTunnelDeviceTurnsFilteringOffWhereAllIsOff(t *testing.T) {
	ns := newNetns(t, "node")
	inNetnsCommand(t, ns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=1")
	inNetns(t, ns, func() {
		tunnel := ensureTunnel(t, testDevice)
		defer tunnel.Close()
		requireLines(t, "changed", tunnel.Changed, []string{
			"created device vx0: VXLAN, external, UDP port 4789, MAC 02:62:67:6c:62:00, MTU 1500",
			"net.ipv4.conf.vx0.rp_filter: 1 -> 0",
		})
	})
}

// An existing device gets the shared MAC, the MTU and loose filtering,
// and Close puts every one of them back.
func TestEnsureTunnelDeviceAdjustsAnExistingDeviceAndCloseRestoresIt(t *testing.T) {
	ns := newNetns(t, "node")
	inNetnsCommand(t, ns, "ip", "link", "add", "vx0", "address", "02:00:00:00:00:99", "mtu", "1400", "type", "vxlan", "external", "dstport", "4789")
	inNetnsCommand(t, ns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=2")
	inNetns(t, ns, func() {
		tunnel := ensureTunnel(t, testDevice)
		requireLines(t, "changed", tunnel.Changed, []string{
			"device vx0: MAC 02:00:00:00:00:99 -> 02:62:67:6c:62:00",
			"device vx0: MTU 1400 -> 1500",
			"device vx0: set up",
			"device vx0: added 169.254.19.1/32 (loose reverse-path filtering needs an IPv4 address on the device)",
		})
		if err := tunnel.Close(); err != nil {
			t.Fatal(err)
		}
		link, err := netlink.LinkByName("vx0")
		if err != nil {
			t.Fatalf("closing what found the device removed it: %v", err)
		}
		addresses, err := netlink.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		attrs := link.Attrs()
		if attrs.HardwareAddr.String() != "02:00:00:00:00:99" || attrs.MTU != 1400 || attrs.Flags&net.FlagUp != 0 || len(addresses) != 0 {
			t.Errorf("after Close: MAC %s, MTU %d, flags %v, addresses %v; want the device as it was", attrs.HardwareAddr, attrs.MTU, attrs.Flags, addresses)
		}
	})
}

func TestEnsureTunnelDeviceRefusesAnotherKindOfDevice(t *testing.T) {
	ns := newNetns(t, "node")
	inNetnsCommand(t, ns, "ip", "link", "add", "vx0", "type", "bridge")
	inNetnsCommand(t, ns, "ip", "link", "add", "vx1", "type", "vxlan", "id", "5", "dstport", "4789")
	inNetns(t, ns, func() {
		for name, want := range map[string]string{
			"vx0": `device "vx0" exists but is not a VXLAN device in external mode on UDP port 4789 (it is a bridge device); remove it or name another`,
			"vx1": `device "vx1" exists but is not a VXLAN device in external mode on UDP port 4789 (it is a vxlan device, external false, UDP port 4789); remove it or name another`,
		} {
			device := testDevice
			device.Name = name
			tunnel, err := EnsureTunnelDevice(device)
			if err == nil {
				tunnel.Close()
				t.Errorf("EnsureTunnelDevice took device %s", name)
				continue
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q, want %q", err, want)
			}
		}
	})
}
