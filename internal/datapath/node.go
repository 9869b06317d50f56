//go:build linux

package datapath

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
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
	// PinDir is a directory on a bpf filesystem (bpffs) where the
	// datapath keeps what outlives a speaker's restart; Open makes it if
	// its parent exists. Empty means DefaultPinDir. One network
	// namespace's datapath per directory.
	PinDir string
	// Lease is how long the program goes on forwarding after the last
	// renewal; a Node renews it on every Apply and every Lease/4. Zero
	// means DefaultLease.
	Lease time.Duration
}

func (o Options) withDefaults() (Options, error) {
	if o.Device.Name == "" {
		o.Device = DefaultTunnelDevice()
	}
	if o.PinDir == "" {
		o.PinDir = DefaultPinDir
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
// to follow a director.Plan. It implements director.Datapath.
//
// The program outlives the Node: its links are pinned in Options.PinDir,
// so that after Leave it goes on forwarding by the last plan until the
// next speaker's Node takes it over, in one step, on its first Apply; or
// until its lease runs out, when it stops acting by itself. Close removes
// it. Its methods are not safe for concurrent use.
type Node struct {
	datapath *Datapath
	tunnel   *Tunnel
	// netns is the network namespace Open ran in, where Close removes
	// what Open made, whichever thread calls it.
	netns  netns.NsHandle
	pinDir string
	// hooks are where the program goes on the first Apply.
	hooks   []hook
	renewal *renewal
	// found and changed are what Findings reports besides conntrack.
	found, changed []string

	ids      map[string]NodeID
	names    map[NodeID]string
	tunnels  map[string]netip.Addr
	tables   map[string]TableID
	services map[netip.Addr]TableID
}

// Open sets up the tunnel device and loads the program, without
// attaching it: the first Apply does, once the maps hold the plan. Open
// undoes what it did when a step fails, leaving the datapath of an
// earlier speaker of the node as it found it; the error says which step
// failed, and wraps ErrKernelFeature when the kernel lacks something.
func Open(opts Options) (*Node, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	n := &Node{ids: map[string]NodeID{}, names: map[NodeID]string{}, tunnels: map[string]netip.Addr{},
		tables: map[string]TableID{}, services: map[netip.Addr]TableID{}, netns: -1, pinDir: opts.PinDir}
	if n.netns, err = netns.Get(); err != nil {
		return nil, fmt.Errorf("open the network namespace: %w", err)
	}
	if err := n.open(opts); err != nil {
		return nil, errors.Join(err, n.undoOpen())
	}
	n.renewal = startRenewal(n.datapath, opts.Lease)
	return n, nil
}

func (n *Node) open(opts Options) error {
	if err := ensurePinDir(opts.PinDir); err != nil {
		return err
	}
	uplinks, err := uplinkInterfaces(opts)
	if err != nil {
		return err
	}
	if n.tunnel, err = EnsureTunnelDevice(opts.Device); err != nil {
		return err
	}
	n.found = append(n.found, n.tunnel.Found...)
	n.changed = append(n.changed, n.tunnel.Changed...)
	for _, uplink := range uplinks {
		n.hooks = append(n.hooks, hook{role: roleUplink, name: uplink.Name, ifindex: uplink.Index})
	}
	n.hooks = append(n.hooks, hook{role: roleTunnel, name: opts.Device.Name, ifindex: n.tunnel.Ifindex})
	n.datapath, err = Load(Config{Node: selfID, BucketCount: owner.DefaultSize, TunnelIfindex: n.tunnel.Ifindex, TunnelMAC: opts.Device.MAC})
	if err != nil {
		return err
	}
	if err := n.datapath.SetNode(selfID, opts.TunnelAddress); err != nil {
		return err
	}
	if err := n.noteEarlierDatapath(); err != nil {
		return err
	}
	return n.adoptDevice()
}

// noteEarlierDatapath records whether an earlier speaker left a datapath
// in the pin directory, which the first Apply takes over.
func (n *Node) noteEarlierDatapath() error {
	pinned, err := pinnedHooks(n.pinDir)
	if err != nil {
		return err
	}
	if len(pinned) == 0 {
		n.found = append(n.found, fmt.Sprintf("no datapath of an earlier speaker in %s", n.pinDir))
		return nil
	}
	on := make([]string, len(pinned))
	for i, h := range pinned {
		on[i] = h.String()
	}
	n.found = append(n.found, fmt.Sprintf("an earlier speaker's datapath is pinned in %s, on %s: the first plan applied takes it over",
		n.pinDir, strings.Join(on, ", ")))
	return nil
}

// undoOpen removes what a failed Open made: the program, never attached,
// and its own changes to the tunnel device. The pin directory is left as
// it was.
func (n *Node) undoOpen() error {
	err := inNamespace(n.netns, func() error {
		var errs []error
		if n.datapath != nil {
			errs = append(errs, n.datapath.Close())
		}
		if n.tunnel != nil {
			errs = append(errs, n.tunnel.Close())
		}
		return errors.Join(errs...)
	})
	return errors.Join(err, n.netns.Close())
}

// uplinkInterfaces returns the uplinks: those named, or the one interface
// that holds the tunnel address.
func uplinkInterfaces(opts Options) ([]net.Interface, error) {
	if len(opts.Uplinks) > 0 {
		out := make([]net.Interface, 0, len(opts.Uplinks))
		for _, name := range opts.Uplinks {
			iface, err := net.InterfaceByName(name)
			if err != nil {
				return nil, fmt.Errorf("uplink %q: %w", name, err)
			}
			out = append(out, *iface)
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
				return []net.Interface{iface}, nil
			}
		}
	}
	return nil, fmt.Errorf("no interface holds the tunnel address %s: name the uplinks", opts.TunnelAddress)
}

// Close stops forwarding and removes the datapath, in the network
// namespace Open ran in: it detaches the program and removes every link
// pinned in the pin directory, an earlier speaker's too, and the device
// record, and removes the tunnel device, or puts back what was changed on
// a device that was found (by this speaker or an earlier one).
func (n *Node) Close() error {
	if !n.netns.IsOpen() {
		return nil
	}
	n.renewal.stop()
	err := inNamespace(n.netns, func() error {
		var errs []error
		if n.datapath != nil {
			errs = append(errs, n.datapath.Close())
			n.datapath = nil
		}
		_, err := removePinnedLinks(n.pinDir, func(string) bool { return true })
		errs = append(errs, err)
		if err := os.Remove(filepath.Join(n.pinDir, deviceRecordFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove the tunnel device record: %w", err))
		}
		if n.tunnel != nil {
			errs = append(errs, n.tunnel.Close())
			n.tunnel = nil
		}
		return errors.Join(errs...)
	})
	return errors.Join(err, n.netns.Close())
}

// Leave hands the datapath over to the node's next speaker: it stops
// renewing the lease and lets go of the program, its maps and links, but
// leaves the pinned links, which keep the program forwarding by the last
// plan applied, and the tunnel device and its record as they are.
func (n *Node) Leave() error {
	if !n.netns.IsOpen() {
		return nil
	}
	n.renewal.stop()
	var err error
	if n.datapath != nil {
		err = n.datapath.leave()
		n.datapath = nil
	}
	n.tunnel = nil
	return errors.Join(err, n.netns.Close())
}

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

// Apply renews the lease and makes the maps hold req.Plan. New nodes and
// tables go in before the addresses that use them, and old ones go out
// after, so that no packet meets an address whose table or node is
// missing. The first Apply to get that far then puts the program on the
// uplinks and the tunnel device, in place of an earlier speaker's program
// where one is pinned, and removes the earlier speaker's links of
// interfaces this Node does not use.
func (n *Node) Apply(ctx context.Context, req director.ApplyRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if n.datapath == nil {
		return errors.New("the director datapath is closed")
	}
	// Renewed first, so that a program attached below starts out acting.
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
	if !slices.ContainsFunc(n.hooks, func(h hook) bool { return !h.installed }) {
		return nil
	}
	return inNamespace(n.netns, func() error {
		done, err := n.installHooks()
		n.changed = append(n.changed, done...)
		return err
	})
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
