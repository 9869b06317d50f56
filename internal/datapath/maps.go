//go:build linux

package datapath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
)

// Address families of an underlay entry, as bpf/director.c reads them.
const (
	underlayIPv4 = 4
	underlayIPv6 = 6
)

// SetNode records the underlay address tunnelled packets for node are
// sent to, IPv4 or IPv6.
func (d *Datapath) SetNode(node NodeID, underlay netip.Addr) error {
	if err := validNode(node); err != nil {
		return err
	}
	if !underlay.IsValid() || underlay.Zone() != "" {
		return fmt.Errorf("node %d: underlay address %q is not an address without zone", node, underlay)
	}
	entry := directorUnderlay{Address: addressWords(underlay), Family: underlayIPv6}
	if underlay.Unmap().Is4() {
		entry.Family = underlayIPv4
	}
	if err := d.objects.Nodes.Put(uint32(node), entry); err != nil {
		return fmt.Errorf("set node %d's underlay address %s: %w", node, underlay, err)
	}
	return nil
}

// DeleteNode forgets node's underlay address; packets for it then stay
// where they are (counted as having no owner).
func (d *Datapath) DeleteNode(node NodeID) error {
	if err := validNode(node); err != nil {
		return err
	}
	if err := d.objects.Nodes.Put(uint32(node), directorUnderlay{}); err != nil {
		return fmt.Errorf("delete node %d: %w", node, err)
	}
	return nil
}

func validNode(node NodeID) error {
	if node == 0 || node >= MaxNodes {
		return fmt.Errorf("node ID %d is not between 1 and %d", node, MaxNodes-1)
	}
	return nil
}

// SetTable makes a table from buckets (exactly Config.BucketCount of them)
// and puts it in place of table id's previous one in a single map update,
// so that every packet is directed by the old table or by the new one,
// never by a mix of both.
func (d *Datapath) SetTable(id TableID, buckets []Owners) error {
	if err := d.validTable(id); err != nil {
		return err
	}
	if len(buckets) != int(d.config.BucketCount) {
		return fmt.Errorf("table %d has %d buckets, want %d", id, len(buckets), d.config.BucketCount)
	}
	entries := make([]uint32, len(buckets))
	for bucket, owners := range buckets {
		for _, node := range []NodeID{owners.Primary, owners.Secondary} {
			if node >= MaxNodes {
				return fmt.Errorf("table %d, bucket %d: node ID %d is not below %d", id, bucket, node, MaxNodes)
			}
		}
		entries[bucket] = uint32(owners.Primary)<<16 | uint32(owners.Secondary)
	}
	table, err := d.newTable(entries)
	if err != nil {
		return fmt.Errorf("table %d: %w", id, err)
	}
	// The outer map holds its own reference to the table from here on.
	defer table.Close()
	if err := d.objects.Tables.Put(uint32(id), table); err != nil {
		return fmt.Errorf("put table %d in place: %w", id, err)
	}
	return nil
}

func (d *Datapath) newTable(entries []uint32) (*ebpf.Map, error) {
	table, err := ebpf.NewMap(d.buckets)
	if err != nil {
		return nil, fmt.Errorf("create the bucket map: %w", err)
	}
	keys := make([]uint32, len(entries))
	for i := range keys {
		keys[i] = uint32(i)
	}
	if _, err := table.BatchUpdate(keys, entries, nil); err != nil {
		table.Close()
		return nil, fmt.Errorf("fill the bucket map: %w", err)
	}
	return table, nil
}

// DeleteTable removes table id. Packets for the Services that still name
// it are then left alone (counted as having no owner).
func (d *Datapath) DeleteTable(id TableID) error {
	if err := d.validTable(id); err != nil {
		return err
	}
	err := d.objects.Tables.Delete(uint32(id))
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete table %d: %w", id, err)
	}
	return nil
}

func (d *Datapath) validTable(id TableID) error {
	if uint32(id) >= d.config.MaxTables {
		return fmt.Errorf("table ID %d is not below %d", id, d.config.MaxTables)
	}
	return nil
}

// SetService directs the packets for a Service address by table id.
func (d *Datapath) SetService(service netip.Addr, id TableID) error {
	key, err := serviceKey(service)
	if err != nil {
		return err
	}
	if err := d.validTable(id); err != nil {
		return fmt.Errorf("service %s: %w", service, err)
	}
	if err := d.objects.Services.Put(key, uint32(id)); err != nil {
		return fmt.Errorf("set service %s to table %d: %w", service, id, err)
	}
	return nil
}

// DeleteService stops directing the packets for a Service address.
func (d *Datapath) DeleteService(service netip.Addr) error {
	key, err := serviceKey(service)
	if err != nil {
		return err
	}
	err = d.objects.Services.Delete(key)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete service %s: %w", service, err)
	}
	return nil
}

func serviceKey(service netip.Addr) (directorServiceKey, error) {
	if !service.IsValid() || service.Zone() != "" {
		return directorServiceKey{}, fmt.Errorf("service address %q is not an address without zone", service)
	}
	return directorServiceKey{Address: service.As16()}, nil
}

// addressWords is an address's 16-byte form as the program keeps it: four
// words in network byte order, as they lie in memory.
func addressWords(address netip.Addr) [4]uint32 {
	bytes := address.As16()
	var words [4]uint32
	for i := range words {
		words[i] = binary.NativeEndian.Uint32(bytes[4*i:])
	}
	return words
}
