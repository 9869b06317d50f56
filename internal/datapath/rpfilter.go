//go:build linux

package datapath

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Reverse-path filtering modes (net.ipv4.conf.*.rp_filter). The kernel
// applies the higher of the values of "all" and of the device.
const (
	rpFilterOff    = 0
	rpFilterStrict = 1
	rpFilterLoose  = 2
)

// ensureReversePathFilter makes the device's effective filtering either
// off or loose with an IPv4 address on the device. The host-wide "all"
// setting is never changed: where it is on, the device becomes loose,
// which keeps the host's choice for every other interface.
func (t *Tunnel) ensureReversePathFilter(link netlink.Link) error {
	name := link.Attrs().Name
	all, err := readSysctl("net/ipv4/conf/all/rp_filter")
	if err != nil {
		return err
	}
	device, err := readSysctl(rpFilterPath(name))
	if err != nil {
		return err
	}
	t.Found = append(t.Found, fmt.Sprintf("net.ipv4.conf.all.rp_filter=%d, net.ipv4.conf.%s.rp_filter=%d", all, name, device))
	want := device
	switch {
	case all == rpFilterOff:
		want = rpFilterOff
	case max(all, device) == rpFilterStrict:
		want = rpFilterLoose
	}
	if want != device {
		if err := t.writeDeviceSysctl(name, device, want); err != nil {
			return err
		}
	}
	if max(all, want) == rpFilterLoose {
		return t.ensureIPv4Address(link)
	}
	return nil
}

func (t *Tunnel) writeDeviceSysctl(name string, old, value int) error {
	if err := writeSysctl(rpFilterPath(name), value); err != nil {
		return err
	}
	t.Changed = append(t.Changed, fmt.Sprintf("net.ipv4.conf.%s.rp_filter: %d -> %d", name, old, value))
	if !t.changes.Created {
		t.changes.RPFilter, t.changes.RPFilterChanged = old, true
	}
	return nil
}

func rpFilterPath(device string) string { return "net/ipv4/conf/" + device + "/rp_filter" }

// ensureIPv4Address adds looseModeAddress to the device unless it has an
// IPv4 address already.
func (t *Tunnel) ensureIPv4Address(link netlink.Link) error {
	name := link.Attrs().Name
	addresses, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list the IPv4 addresses of tunnel device %q: %w", name, err)
	}
	if len(addresses) > 0 {
		t.Found = append(t.Found, fmt.Sprintf("device %s: IPv4 address %s", name, addresses[0].IPNet))
		return nil
	}
	if err := netlink.AddrAdd(link, looseModeNetlinkAddress()); err != nil {
		return fmt.Errorf("add %s to tunnel device %q for loose reverse-path filtering: %w", looseModeAddress, name, err)
	}
	t.Changed = append(t.Changed, fmt.Sprintf("device %s: added %s (loose reverse-path filtering needs an IPv4 address on the device)", name, looseModeAddress))
	if !t.changes.Created {
		t.changes.AddedLooseModeAddress = true
	}
	return nil
}

func looseModeNetlinkAddress() *netlink.Addr {
	return &netlink.Addr{
		IPNet: &net.IPNet{IP: looseModeAddress.Addr().AsSlice(), Mask: net.CIDRMask(looseModeAddress.Bits(), 32)},
		Scope: unix.RT_SCOPE_LINK,
	}
}

// readSysctl reads an integer setting of the calling thread's network
// namespace; path is relative to /proc/sys.
func readSysctl(path string) (int, error) {
	data, err := os.ReadFile("/proc/sys/" + path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", sysctlName(path), err)
	}
	value, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("read %s: value %q is not a number", sysctlName(path), data)
	}
	return value, nil
}

func writeSysctl(path string, value int) error {
	if err := os.WriteFile("/proc/sys/"+path, []byte(strconv.Itoa(value)), 0o644); err != nil {
		return fmt.Errorf("set %s to %d: %w", sysctlName(path), value, err)
	}
	return nil
}

func sysctlName(path string) string {
	return strings.ReplaceAll(path, "/", ".")
}
