//go:build linux

package datapath

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/vishvananda/netns"

	"github.com/bgplb/bgplb/internal/director"
	"github.com/bgplb/bgplb/internal/owner"
)

// selfID is every node's ID for itself: IDs are each node's own, so the
// same one serves on all of them.
const selfID NodeID = 1

// DefaultTunnelPort is the tunnel's UDP port. It is not VXLAN's 4789,
// which CNIs with a VXLAN overlay of their own may hold already.
const DefaultTunnelPort = 4799

// DefaultTunnelDevice is the tunnel device every node makes, unless told
// otherwise. Its MAC is locally administered and the same on every node.
func DefaultTunnelDevice() TunnelDevice {
	return TunnelDevice{Name: "bgplb-vx0", MAC: net.HardwareAddr{0x02, 0x62, 0x6c, 0x62, 0x00, 0x01}, DestinationPort: DefaultTunnelPort}
}

// Options says where a node's director datapath goes.
type Options struct {
	// TunnelAddress is the node's address that other nodes send forwarded
	// packets to.
	TunnelAddress netip.Addr
	// Uplinks name the interfaces packets from the routers arrive on;
	// empty means the interface that holds TunnelAddress.
	Uplinks []string
	// Device is the tunnel device; a zero value means
	// DefaultTunnelDevice.
	Device TunnelDevice
	// Lease is how long the program goes on forwarding after the last
	// renewal; a Node renews it on every Apply and every Lease/4. Zero
	// means DefaultLease.
	Lease time.Duration
}

func (o Options) withDefaults() (Options, error) {
	if o.Device.Name == "" {
		o.Device = DefaultTunnelDevice()
	}
	if o.Lease == 0 {
		o.Lease = DefaultLease
	}
	if o.Lease < minLease {
		return o, fmt.Errorf("director lease %s is shorter than %s", o.Lease, minLease)
	}
	return o, nil
}

// minLease keeps renewals, every lease/4, from running all the time.
const minLease = 100 * time.Millisecond

// Node is one node's director datapath: the tunnel device, the program on
// the uplinks and the tunnel, and what its maps hold, which Apply changes
// to follow a director.Plan. It implements director.Datapath. Its methods
// are not safe for concurrent use.
type Node struct {
	datapath *Datapath
	tunnel   *Tunnel
	// netns is the network namespace Open ran in, where Close removes
	// what Open made, whichever thread calls it.
	netns   netns.NsHandle
	renewal *renewal

	ids      map[string]NodeID
	names    map[NodeID]string
	tunnels  map[string]netip.Addr
	tables   map[string]TableID
	services map[netip.Addr]TableID
}

// Open sets up the tunnel device, loads the program and attaches it,
// with no lease yet: the program acts from the first Apply on. It
// undoes everything it did when a step fails; the error says which, and
// wraps ErrKernelFeature when the kernel lacks something.
func Open(opts Options) (*Node, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	n := &Node{ids: map[string]NodeID{}, names: map[NodeID]string{}, tunnels: map[string]netip.Addr{},
		tables: map[string]TableID{}, services: map[netip.Addr]TableID{}, netns: -1}
	if n.netns, err = netns.Get(); err != nil {
		return nil, fmt.Errorf("open the network namespace: %w", err)
	}
	if err := n.open(opts); err != nil {
		return nil, errors.Join(err, n.Close())
	}
	n.renewal = startRenewal(n.datapath, opts.Lease)
	return n, nil
}

func (n *Node) open(opts Options) error {
	uplinks, err := uplinkIndexes(opts)
	if err != nil {
		return err
	}
	if n.tunnel, err = EnsureTunnelDevice(opts.Device); err != nil {
		return err
	}
	n.datapath, err = Load(Config{Node: selfID, BucketCount: owner.DefaultSize, TunnelIfindex: n.tunnel.Ifindex, TunnelMAC: opts.Device.MAC})
	if err != nil {
		return err
	}
	if err := n.datapath.SetNode(selfID, opts.TunnelAddress); err != nil {
		return err
	}
	for _, index := range uplinks {
		if err := n.datapath.AttachUplink(index); err != nil {
			return err
		}
	}
	return n.datapath.AttachTunnel(n.tunnel.Ifindex)
}

// uplinkIndexes returns the interface indexes of the uplinks: those named,
// or the one interface that holds the tunnel address.
func uplinkIndexes(opts Options) ([]int, error) {
	if len(opts.Uplinks) > 0 {
		out := make([]int, 0, len(opts.Uplinks))
		for _, name := range opts.Uplinks {
			iface, err := net.InterfaceByName(name)
			if err != nil {
				return nil, fmt.Errorf("uplink %q: %w", name, err)
			}
			out = append(out, iface.Index)
		}
		return out, nil
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	for _, iface := range ifaces {
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == opts.TunnelAddress.Unmap() {
				return []int{iface.Index}, nil
			}
		}
	}
	return nil, fmt.Errorf("no interface holds the tunnel address %s: name the uplinks", opts.TunnelAddress)
}

// Close detaches the program and removes the tunnel device, or undoes
// what EnsureTunnelDevice changed on a device it found, in the network
// namespace Open ran in.
func (n *Node) Close() error {
	if !n.netns.IsOpen() {
		return nil
	}
	if n.renewal != nil {
		n.renewal.stop()
	}
	err := inNamespace(n.netns, func() error {
		var errs []error
		if n.datapath != nil {
			errs = append(errs, n.datapath.Close())
			n.datapath = nil
		}
		if n.tunnel != nil {
			errs = append(errs, n.tunnel.Close())
			n.tunnel = nil
		}
		return errors.Join(errs...)
	})
	return errors.Join(err, n.netns.Close())
}

// Leave hands the datapath over to the node's next speaker. The program
// does not outlive the process yet, so for now it is removed as by Close.
func (n *Node) Leave() error { return n.Close() }

// inNamespace runs fn on a thread in the network namespace ns: devices
// and sysctls are looked up in the calling thread's namespace.
func inNamespace(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	current, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open the thread's network namespace: %w", err)
	}
	defer current.Close()
	if current.Equal(ns) {
		defer runtime.UnlockOSThread()
		return fn()
	}
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter the datapath's network namespace: %w", err)
	}
	fnErr := fn()
	if err := netns.Set(current); err != nil {
		// The thread stays locked, and so ends with its goroutine rather
		// than serve others in the wrong namespace.
		return errors.Join(fnErr, fmt.Errorf("return to the thread's network namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// Apply makes the maps hold req.Plan. New nodes and tables go in before
// the addresses that use them, and old ones go out after, so that no
// packet meets an address whose table or node is missing.
func (n *Node) Apply(ctx context.Context, req director.ApplyRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if n.datapath == nil {
		return errors.New("the director datapath is closed")
	}
	if err := n.renewal.renew(); err != nil {
		return err
	}
	steps := []func() error{
		func() error { return n.addNodes(req.Plan.Tunnels, req.Self) },
		func() error { return n.addTables(req.Plan.Tables, req.Self) },
		func() error { return n.setServices(req.Plan.Addresses) },
		func() error { return n.dropTables(req.Plan.Tables) },
		func() error { return n.dropNodes(req.Plan.Tunnels, req.Self) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// addNodes gives every other node of the plan an ID and records its
// tunnel address.
func (n *Node) addNodes(tunnels map[string]netip.Addr, self string) error {
	for name, addr := range tunnels {
		if name == self || n.tunnels[name] == addr {
			continue
		}
		id, err := n.idOf(name)
		if err != nil {
			return err
		}
		if err := n.datapath.SetNode(id, addr); err != nil {
			return fmt.Errorf("node %s: %w", name, err)
		}
		n.tunnels[name] = addr
	}
	return nil
}

// idOf returns the node's ID, giving it the lowest free one if it has
// none.
func (n *Node) idOf(name string) (NodeID, error) {
	if id, ok := n.ids[name]; ok {
		return id, nil
	}
	for id := selfID + 1; id < MaxNodes; id++ {
		if _, used := n.names[id]; !used {
			n.ids[name], n.names[id] = id, name
			return id, nil
		}
	}
	return 0, fmt.Errorf("node %s: more than %d nodes", name, MaxNodes-2)
}

// addTables loads the tables the plan has and the maps do not. A table's
// key names its members and their states, so a key already loaded holds
// the same table.
func (n *Node) addTables(tables map[string]owner.Table, self string) error {
	for key, table := range tables {
		if _, loaded := n.tables[key]; loaded {
			continue
		}
		id, err := n.freeTable()
		if err != nil {
			return err
		}
		buckets, err := n.buckets(table, self)
		if err != nil {
			return err
		}
		if err := n.datapath.SetTable(id, buckets); err != nil {
			return err
		}
		n.tables[key] = id
	}
	return nil
}

func (n *Node) freeTable() (TableID, error) {
	used := make(map[TableID]bool, len(n.tables))
	for _, id := range n.tables {
		used[id] = true
	}
	for id := TableID(0); id < TableID(n.datapath.config.MaxTables); id++ {
		if !used[id] {
			return id, nil
		}
	}
	return 0, fmt.Errorf("more than %d node sets: no owner table left", n.datapath.config.MaxTables)
}

// buckets turns a table's owners, indexes into its nodes, into node IDs.
func (n *Node) buckets(table owner.Table, self string) ([]Owners, error) {
	ids := make([]NodeID, len(table.Nodes)+1)
	for i, name := range table.Nodes {
		if name == self {
			ids[i+1] = selfID
			continue
		}
		id, ok := n.ids[name]
		if !ok {
			return nil, fmt.Errorf("owner table names node %s, which has no tunnel address", name)
		}
		ids[i+1] = id
	}
	out := make([]Owners, len(table.Buckets))
	for b, o := range table.Buckets {
		out[b] = Owners{Primary: ids[o.Primary], Secondary: ids[o.Secondary]}
	}
	return out, nil
}

// setServices points every address at its table, and forgets addresses
// the plan no longer has.
func (n *Node) setServices(addresses map[netip.Addr]string) error {
	for addr, key := range addresses {
		id := n.tables[key]
		if current, ok := n.services[addr]; ok && current == id {
			continue
		}
		if err := n.datapath.SetService(addr, id); err != nil {
			return err
		}
		n.services[addr] = id
	}
	for addr := range n.services {
		if _, ok := addresses[addr]; !ok {
			if err := n.datapath.DeleteService(addr); err != nil {
				return err
			}
			delete(n.services, addr)
		}
	}
	return nil
}

func (n *Node) dropTables(tables map[string]owner.Table) error {
	for key, id := range n.tables {
		if _, ok := tables[key]; ok {
			continue
		}
		if err := n.datapath.DeleteTable(id); err != nil {
			return err
		}
		delete(n.tables, key)
	}
	return nil
}

func (n *Node) dropNodes(tunnels map[string]netip.Addr, self string) error {
	for name, id := range n.ids {
		if _, ok := tunnels[name]; ok && name != self {
			continue
		}
		if err := n.datapath.DeleteNode(id); err != nil {
			return err
		}
		delete(n.ids, name)
		delete(n.names, id)
		delete(n.tunnels, name)
	}
	return nil
}

// Counters reads the program's counters, with nodes by name.
func (n *Node) Counters(ctx context.Context) (director.Counters, error) {
	if err := ctx.Err(); err != nil {
		return director.Counters{}, err
	}
	if n.datapath == nil {
		return director.Counters{}, errors.New("the director datapath is closed")
	}
	c, err := n.datapath.Counters()
	if err != nil {
		return director.Counters{}, err
	}
	out := director.Counters{Forwarded: map[string]uint64{}, SecondChances: map[string]uint64{},
		Local: c.PassedSYN + c.PassedConntrack + c.PassedHop2 + c.PassedNoState, NoOwner: c.NoOwner}
	for id, sent := range c.Sent {
		name, ok := n.names[id]
		if !ok {
			name = fmt.Sprintf("node-id-%d", id)
		}
		out.Forwarded[name] += sent.Hop1
		out.SecondChances[name] += sent.Hop2
	}
	return out, nil
}
