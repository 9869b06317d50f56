//go:build linux

package datapath

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// TunnelDevice is the VXLAN device the director tunnels through, the same
// on every node.
type TunnelDevice struct {
	Name string
	// MAC is the device's address on every node; forwarded packets carry
	// it as their inner destination, so the receiver takes them as its own.
	MAC net.HardwareAddr
	// DestinationPort is the UDP port of the tunnel (4789 is VXLAN's).
	DestinationPort uint16
	// MTU of the device; zero keeps what the kernel chose.
	MTU int
}

// Tunnel is the device EnsureTunnelDevice found or made, and what it found
// and changed, in words the speaker can put in its status.
type Tunnel struct {
	Ifindex int
	Found   []string
	Changed []string

	name     string
	changes  deviceChanges
	finished bool
}

// deviceChanges is what EnsureTunnelDevice changed, as data rather than
// steps, so that Close can undo it and a Node can hand it to the node's
// next speaker (see handover.go).
type deviceChanges struct {
	// Created says the device was made; everything else went with it.
	Created bool
	// The settings of a device that was found, as they were before: each
	// only where it changed.
	MAC                   net.HardwareAddr
	MTU                   int
	SetUp                 bool
	RPFilter              int
	RPFilterChanged       bool
	AddedLooseModeAddress bool
}

// looseModeAddress is put on the tunnel device when reverse-path filtering
// has to be loose there: the kernel rejects every packet arriving on a
// device without an IPv4 address under any reverse-path filtering, and a
// link-local /32 adds no route.
var looseModeAddress = netip.MustParsePrefix("169.254.19.1/32")

// EnsureTunnelDevice makes sure a VXLAN device in external (collect
// metadata) mode with the given name, port, MAC and MTU exists and is up,
// creating it if absent, and that reverse-path filtering lets the packets
// it decapsulates in: their source, the client, is routed through an
// uplink, so strict filtering drops them. It works in the calling
// thread's network namespace. A device of that name that is not such a
// VXLAN device is an error, not replaced.
//
// Close undoes what it changed: it removes the device if it created it,
// else the address it added, and puts back the settings it changed.
func EnsureTunnelDevice(device TunnelDevice) (*Tunnel, error) {
	if err := device.validate(); err != nil {
		return nil, err
	}
	t := &Tunnel{name: device.Name}
	link, err := t.ensureDevice(device)
	if err == nil {
		err = t.ensureReversePathFilter(link)
	}
	if err != nil {
		return nil, errors.Join(err, t.Close())
	}
	t.Ifindex = link.Attrs().Index
	return t, nil
}

func (d TunnelDevice) validate() error {
	if d.Name == "" || len(d.Name) > 15 {
		return fmt.Errorf("tunnel device name %q is not 1 to 15 characters", d.Name)
	}
	if len(d.MAC) != tunnelMACLength {
		return fmt.Errorf("tunnel device %q: MAC %q is not a 6-byte MAC address", d.Name, d.MAC)
	}
	if d.DestinationPort == 0 {
		return fmt.Errorf("tunnel device %q: UDP port 0", d.Name)
	}
	if d.MTU < 0 {
		return fmt.Errorf("tunnel device %q: MTU %d", d.Name, d.MTU)
	}
	return nil
}

func (t *Tunnel) ensureDevice(device TunnelDevice) (netlink.Link, error) {
	existing, err := netlink.LinkByName(device.Name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		t.Found = append(t.Found, fmt.Sprintf("no device %s", device.Name))
		return t.createDevice(device)
	}
	if err != nil {
		return nil, fmt.Errorf("look up tunnel device %q: %w", device.Name, err)
	}
	vxlan, ok := existing.(*netlink.Vxlan)
	if !ok || !vxlan.FlowBased || vxlan.Port != int(device.DestinationPort) {
		return nil, fmt.Errorf("device %q exists but is not a VXLAN device in external mode on UDP port %d (it is a %s device%s); remove it or name another",
			device.Name, device.DestinationPort, existing.Type(), describeVxlan(existing))
	}
	t.Found = append(t.Found, fmt.Sprintf("device %s: VXLAN, external, UDP port %d, MAC %s, MTU %d", device.Name, vxlan.Port, vxlan.HardwareAddr, vxlan.MTU))
	return existing, t.adjustDevice(vxlan, device)
}

func describeVxlan(link netlink.Link) string {
	vxlan, ok := link.(*netlink.Vxlan)
	if !ok {
		return ""
	}
	return fmt.Sprintf(", external %t, UDP port %d", vxlan.FlowBased, vxlan.Port)
}

func (t *Tunnel) createDevice(device TunnelDevice) (netlink.Link, error) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = device.Name
	attrs.HardwareAddr = device.MAC
	attrs.MTU = device.MTU
	vxlan := &netlink.Vxlan{LinkAttrs: attrs, FlowBased: true, Port: int(device.DestinationPort)}
	if err := netlink.LinkAdd(vxlan); err != nil {
		return nil, fmt.Errorf("create tunnel device %q (VXLAN, external, UDP port %d): %w", device.Name, device.DestinationPort, err)
	}
	t.changes.Created = true
	link, err := netlink.LinkByName(device.Name)
	if err != nil {
		return nil, fmt.Errorf("look up tunnel device %q after creating it: %w", device.Name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("set tunnel device %q up: %w", device.Name, err)
	}
	t.Changed = append(t.Changed, fmt.Sprintf("created device %s: VXLAN, external, UDP port %d, MAC %s, MTU %d",
		device.Name, device.DestinationPort, device.MAC, link.Attrs().MTU))
	return link, nil
}

// adjustDevice gives an existing device the shared MAC and the MTU and
// sets it up, recording each change and how to undo it.
func (t *Tunnel) adjustDevice(link *netlink.Vxlan, device TunnelDevice) error {
	if oldMAC := link.HardwareAddr; oldMAC.String() != device.MAC.String() {
		if err := netlink.LinkSetHardwareAddr(link, device.MAC); err != nil {
			return fmt.Errorf("set tunnel device %q's MAC to %s: %w", device.Name, device.MAC, err)
		}
		t.Changed = append(t.Changed, fmt.Sprintf("device %s: MAC %s -> %s", device.Name, oldMAC, device.MAC))
		t.changes.MAC = oldMAC
	}
	if oldMTU := link.MTU; device.MTU != 0 && oldMTU != device.MTU {
		if err := netlink.LinkSetMTU(link, device.MTU); err != nil {
			return fmt.Errorf("set tunnel device %q's MTU to %d: %w", device.Name, device.MTU, err)
		}
		t.Changed = append(t.Changed, fmt.Sprintf("device %s: MTU %d -> %d", device.Name, oldMTU, device.MTU))
		t.changes.MTU = oldMTU
	}
	if link.Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(link); err != nil {
			return fmt.Errorf("set tunnel device %q up: %w", device.Name, err)
		}
		t.Changed = append(t.Changed, fmt.Sprintf("device %s: set up", device.Name))
		t.changes.SetUp = true
	}
	return nil
}

// Close removes the device if EnsureTunnelDevice created it (every change
// it made was to that device), and otherwise undoes its changes to the
// device, last first. A device that is gone has nothing left to undo.
func (t *Tunnel) Close() error {
	if t.finished {
		return nil
	}
	t.finished = true
	link, err := netlink.LinkByName(t.name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up tunnel device %q: %w", t.name, err)
	}
	if t.changes.Created {
		if err := netlink.LinkDel(link); err != nil {
			return fmt.Errorf("remove tunnel device %q: %w", t.name, err)
		}
		return nil
	}
	var errs []error
	for _, step := range t.changes.undo(link) {
		if err := step(); err != nil {
			errs = append(errs, fmt.Errorf("undo a change to tunnel device %q: %w", t.name, err))
		}
	}
	return errors.Join(errs...)
}

// undo returns the steps that put back what changed on a device that was
// found, in the reverse order of the changes.
func (c deviceChanges) undo(link netlink.Link) []func() error {
	var steps []func() error
	if c.AddedLooseModeAddress {
		steps = append(steps, func() error { return netlink.AddrDel(link, looseModeNetlinkAddress()) })
	}
	if c.RPFilterChanged {
		steps = append(steps, func() error { return writeSysctl(rpFilterPath(link.Attrs().Name), c.RPFilter) })
	}
	if c.SetUp {
		steps = append(steps, func() error { return netlink.LinkSetDown(link) })
	}
	if c.MTU != 0 {
		steps = append(steps, func() error { return netlink.LinkSetMTU(link, c.MTU) })
	}
	if c.MAC != nil {
		steps = append(steps, func() error { return netlink.LinkSetHardwareAddr(link, c.MAC) })
	}
	return steps
}
