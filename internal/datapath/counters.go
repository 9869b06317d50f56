//go:build linux

package datapath

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// Counters are the program's packet counts since it was loaded, summed
// over CPUs.
type Counters struct {
	// Sent counts, per node sent to, the packets tunnelled to it. Nodes
	// with nothing sent are absent.
	Sent map[NodeID]Sent
	// PassedSYN counts packets kept at their owner because they open a TCP
	// connection.
	PassedSYN uint64
	// PassedConntrack counts packets kept at their owner because its
	// conntrack knows their flow.
	PassedConntrack uint64
	// PassedHop2 counts packets kept because they arrived on their second
	// hop, which is never followed by a third.
	PassedHop2 uint64
	// PassedNoState counts packets kept at their owner although it had no
	// state for them, because there was no other node to try.
	PassedNoState uint64
	// SecondChances counts packets the owner sent on to the secondary.
	SecondChances uint64
	// NoOwner counts packets for a Service address that were left alone
	// because the table, the bucket's primary or the node's underlay
	// address was missing.
	NoOwner uint64
	// LeaseExpired counts packets of any kind that arrived after the
	// lease had expired, and were left alone for that.
	LeaseExpired uint64
}

// Sent counts the packets tunnelled to one node, by hop.
type Sent struct {
	Hop1, Hop2 uint64
}

// Counters reads the counters.
func (d *Datapath) Counters() (Counters, error) {
	global, err := d.globalCounters()
	if err != nil {
		return Counters{}, err
	}
	sent, err := d.sentCounters()
	if err != nil {
		return Counters{}, err
	}
	return Counters{
		Sent:            sent,
		PassedSYN:       global.PassedSyn,
		PassedConntrack: global.PassedConntrack,
		PassedHop2:      global.PassedHop2,
		PassedNoState:   global.PassedNoState,
		SecondChances:   global.SecondChances,
		NoOwner:         global.NoOwner,
		LeaseExpired:    global.LeaseExpired,
	}, nil
}

func (d *Datapath) globalCounters() (directorDirectorCounters, error) {
	var perCPU []directorDirectorCounters
	if err := d.objects.Counters.Lookup(uint32(0), &perCPU); err != nil {
		return directorDirectorCounters{}, fmt.Errorf("read the director's counters: %w", err)
	}
	var sum directorDirectorCounters
	for _, c := range perCPU {
		sum.PassedSyn += c.PassedSyn
		sum.PassedConntrack += c.PassedConntrack
		sum.PassedHop2 += c.PassedHop2
		sum.PassedNoState += c.PassedNoState
		sum.SecondChances += c.SecondChances
		sum.NoOwner += c.NoOwner
		sum.LeaseExpired += c.LeaseExpired
	}
	return sum, nil
}

// sentCounters reads every node's per-CPU counters in one batch.
func (d *Datapath) sentCounters() (map[NodeID]Sent, error) {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("count the CPUs: %w", err)
	}
	keys := make([]uint32, MaxNodes)
	values := make([]directorNodeCounters, MaxNodes*cpus)
	var cursor ebpf.MapBatchCursor
	n, err := d.objects.NodeCounters.BatchLookup(&cursor, keys, values, nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil, fmt.Errorf("read the per-node counters: %w", err)
	}
	sent := map[NodeID]Sent{}
	for i := range n {
		var s Sent
		for _, c := range values[i*cpus : (i+1)*cpus] {
			s.Hop1 += c.Hop1
			s.Hop2 += c.Hop2
		}
		if s != (Sent{}) {
			sent[NodeID(keys[i])] = s
		}
	}
	return sent, nil
}
