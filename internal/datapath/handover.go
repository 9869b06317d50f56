//go:build linux

package datapath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"

	"github.com/cilium/ebpf"
)

// Who owns the tunnel device across a restart: the node's datapath does,
// whichever speaker drives it. Each Open records in the pin directory
// what was done to the device since the node's datapath first made or
// found it (a one-entry map pinned as deviceRecordFile), and a later
// Open that finds the same device (by interface index) takes that record
// over. So the Close that ends the datapath, in whichever speaker, removes
// a device an earlier speaker made, and puts back the settings an earlier
// speaker changed on a device it found; Leave keeps the record for the
// next speaker.

// deviceRecordFile is the name of the pinned device record.
const deviceRecordFile = "tunnel-device"

// deviceRecord is deviceChanges as the pinned map holds it, with the
// device's interface index; a zero Ifindex means no record.
type deviceRecord struct {
	Ifindex  uint32
	MTU      uint32
	RPFilter int32
	Flags    uint8
	MAC      [tunnelMACLength]byte
	_        uint8
}

// Bits of deviceRecord.Flags.
const (
	recordCreated uint8 = 1 << iota
	recordMAC
	recordSetUp
	recordRPFilter
	recordLooseModeAddress
)

func recordOf(ifindex int, c deviceChanges) deviceRecord {
	r := deviceRecord{Ifindex: uint32(ifindex), MTU: uint32(c.MTU), RPFilter: int32(c.RPFilter)}
	flag := func(bit uint8, set bool) {
		if set {
			r.Flags |= bit
		}
	}
	flag(recordCreated, c.Created)
	flag(recordMAC, c.MAC != nil)
	flag(recordSetUp, c.SetUp)
	flag(recordRPFilter, c.RPFilterChanged)
	flag(recordLooseModeAddress, c.AddedLooseModeAddress)
	copy(r.MAC[:], c.MAC)
	return r
}

func (r deviceRecord) changes() deviceChanges {
	c := deviceChanges{
		Created:               r.Flags&recordCreated != 0,
		MTU:                   int(r.MTU),
		SetUp:                 r.Flags&recordSetUp != 0,
		RPFilter:              int(r.RPFilter),
		RPFilterChanged:       r.Flags&recordRPFilter != 0,
		AddedLooseModeAddress: r.Flags&recordLooseModeAddress != 0,
	}
	if r.Flags&recordMAC != 0 {
		c.MAC = net.HardwareAddr(slices.Clone(r.MAC[:]))
	}
	return c
}

// then is what an earlier speaker changed followed by what this one
// changed: a device made earlier is removed whatever happened since, and
// a setting changed twice goes back to what it was before the first
// change.
func (earlier deviceChanges) then(later deviceChanges) deviceChanges {
	if earlier.Created || later.Created {
		return deviceChanges{Created: true}
	}
	merged := earlier
	if merged.MAC == nil {
		merged.MAC = later.MAC
	}
	if merged.MTU == 0 {
		merged.MTU = later.MTU
	}
	merged.SetUp = merged.SetUp || later.SetUp
	if !merged.RPFilterChanged {
		merged.RPFilter, merged.RPFilterChanged = later.RPFilter, later.RPFilterChanged
	}
	merged.AddedLooseModeAddress = merged.AddedLooseModeAddress || later.AddedLooseModeAddress
	return merged
}

// adoptDevice takes over the record an earlier speaker left of the same
// device, and records what this node's tunnel holds now. The tunnel's
// changes become the merged ones only once the record is written, so
// that an Open that fails leaves an earlier speaker's device as it was.
func (n *Node) adoptDevice() error {
	path := filepath.Join(n.pinDir, deviceRecordFile)
	record, err := openDeviceRecord(path)
	if err != nil {
		return err
	}
	defer record.Close()
	var earlier deviceRecord
	if err := record.Lookup(uint32(0), &earlier); err != nil {
		return fmt.Errorf("read the tunnel device record at %s: %w", path, err)
	}
	changes := n.tunnel.changes
	if earlier.Ifindex != 0 && int(earlier.Ifindex) == n.tunnel.Ifindex {
		changes = earlier.changes().then(changes)
		n.found = append(n.found, adoptedDeviceFinding(n.tunnel.name, changes))
	}
	if err := record.Put(uint32(0), recordOf(n.tunnel.Ifindex, changes)); err != nil {
		return fmt.Errorf("write the tunnel device record at %s: %w", path, err)
	}
	n.tunnel.changes = changes
	return nil
}

func adoptedDeviceFinding(device string, c deviceChanges) string {
	if c.Created {
		return fmt.Sprintf("tunnel device %s was made by an earlier speaker of this node; the datapath's Close removes it", device)
	}
	return fmt.Sprintf("tunnel device %s was found by an earlier speaker of this node; the datapath's Close puts back what was changed on it", device)
}

// openDeviceRecord opens the record pinned at path, making and pinning an
// empty one where there is none, or where one of another layout is (left
// by another version, whose record this one cannot read).
func openDeviceRecord(path string) (*ebpf.Map, error) {
	spec := &ebpf.MapSpec{Name: "bgplb_device", Type: ebpf.Array, KeySize: 4,
		ValueSize: uint32(binary.Size(deviceRecord{})), MaxEntries: 1}
	pinned, err := ebpf.LoadPinnedMap(path, nil)
	switch {
	case err == nil && pinned.ValueSize() == spec.ValueSize && pinned.Type() == spec.Type:
		return pinned, nil
	case err == nil:
		pinned.Close()
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("replace the tunnel device record at %s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("open the tunnel device record at %s: %w", path, err)
	}
	record, err := ebpf.NewMap(spec)
	if err != nil {
		return nil, fmt.Errorf("make the tunnel device record: %w", err)
	}
	if err := record.Pin(path); err != nil {
		return nil, errors.Join(fmt.Errorf("pin the tunnel device record at %s: %w", path, err), record.Close())
	}
	return record, nil
}
