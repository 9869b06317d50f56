//go:build linux

package datapath

import (
	"errors"
	"fmt"
	"io/fs"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
)

// NodeID names a node in this node's owner tables, from 1 to
// MaxNodes-1. Zero means no node.
type NodeID uint16

// MaxNodes bounds node IDs: the nodes map holds this many entries.
const MaxNodes = 8192

// TableID names an owner table, from 0 to Config.MaxTables-1.
type TableID uint32

// Owners is one bucket of an owner table. A zero Primary leaves the
// bucket's packets alone; a zero Secondary means there is none.
type Owners struct {
	Primary, Secondary NodeID
}

// Limits of Config, and the sizes a zero field stands for.
const (
	MaxBuckets         = 1 << 16
	DefaultMaxServices = 4096
	DefaultMaxTables   = 1024
	tunnelMACLength    = 6
)

// Config is what the kernel program is loaded with. Node, BucketCount,
// TunnelIfindex and TunnelMAC are compiled into the program as constants;
// changing one means loading again.
type Config struct {
	// Node is this node's ID.
	Node NodeID
	// BucketCount is the number of buckets of every table, 1 to MaxBuckets.
	BucketCount uint32
	// TunnelIfindex is the index of the VXLAN device packets are
	// redirected to (EnsureTunnelDevice returns it).
	TunnelIfindex int
	// TunnelMAC is the MAC address every node's tunnel device has; it is
	// written as the inner destination of every forwarded packet.
	TunnelMAC net.HardwareAddr
	// MaxServices bounds the Service addresses; zero means DefaultMaxServices.
	MaxServices uint32
	// MaxTables bounds the table IDs; zero means DefaultMaxTables.
	MaxTables uint32
}

// ErrKernelFeature is wrapped by every error that comes from the running
// kernel lacking something the director needs (BTF, the conntrack kfuncs,
// TCX), so that a caller can report why the datapath did not load.
var ErrKernelFeature = errors.New("the kernel lacks a feature the director needs")

// Datapath is the loaded program and its maps. Its methods are not safe
// for concurrent use; the packets the program handles meanwhile always see
// whole tables.
type Datapath struct {
	config  Config
	objects directorObjects
	// buckets is the spec of a table's inner map, from which SetTable
	// makes each new table.
	buckets *ebpf.MapSpec
	links   []link.Link
}

// Load loads the program with its constants and empty maps. Nothing is
// attached yet. The caller closes the Datapath.
func Load(config Config) (*Datapath, error) {
	config = config.withDefaults()
	if err := config.validate(); err != nil {
		return nil, err
	}
	if _, err := btf.LoadKernelSpec(); err != nil {
		return nil, fmt.Errorf("%w: no kernel BTF (CONFIG_DEBUG_INFO_BTF): %w", ErrKernelFeature, err)
	}
	spec, err := loadDirector()
	if err != nil {
		return nil, fmt.Errorf("read the embedded director program: %w", err)
	}
	if err := configure(spec, config); err != nil {
		return nil, err
	}
	d := &Datapath{config: config, buckets: spec.Maps[directorMapTables].InnerMap.Copy()}
	if err := spec.LoadAndAssign(&d.objects, loadOptions()); err != nil {
		return nil, explainLoadError(err)
	}
	return d, nil
}

func (c Config) withDefaults() Config {
	if c.MaxServices == 0 {
		c.MaxServices = DefaultMaxServices
	}
	if c.MaxTables == 0 {
		c.MaxTables = DefaultMaxTables
	}
	return c
}

func (c Config) validate() error {
	if c.Node == 0 || c.Node >= MaxNodes {
		return fmt.Errorf("node ID %d is not between 1 and %d", c.Node, MaxNodes-1)
	}
	if c.BucketCount == 0 || c.BucketCount > MaxBuckets {
		return fmt.Errorf("bucket count %d is not between 1 and %d", c.BucketCount, MaxBuckets)
	}
	if c.TunnelIfindex <= 0 {
		return fmt.Errorf("tunnel interface index %d is not a valid index", c.TunnelIfindex)
	}
	if len(c.TunnelMAC) != tunnelMACLength {
		return fmt.Errorf("tunnel MAC %q is not a 6-byte MAC address", c.TunnelMAC)
	}
	return nil
}

// configure sets the program's constants and the sizes of its maps.
func configure(spec *ebpf.CollectionSpec, config Config) error {
	constants := map[string]any{
		directorVarSelfNode:      uint32(config.Node),
		directorVarBucketCount:   config.BucketCount,
		directorVarTunnelIfindex: uint32(config.TunnelIfindex),
		directorVarTunnelMac:     [tunnelMACLength]byte(config.TunnelMAC),
	}
	for name, value := range constants {
		variable, ok := spec.Variables[name]
		if !ok {
			return fmt.Errorf("the director program has no constant %q", name)
		}
		if err := variable.Set(value); err != nil {
			return fmt.Errorf("set the director's constant %q to %v: %w", name, value, err)
		}
	}
	spec.Maps[directorMapServices].MaxEntries = config.MaxServices
	spec.Maps[directorMapTables].MaxEntries = config.MaxTables
	spec.Maps[directorMapTables].InnerMap.MaxEntries = config.BucketCount
	return nil
}

// loadOptions lets the loader find struct nf_conn where conntrack is a
// module rather than part of the kernel image: the program reads one of
// its fields, relocated against the running kernel's types.
func loadOptions() *ebpf.CollectionOptions {
	conntrack, err := btf.LoadKernelModuleSpec("nf_conntrack")
	if err != nil {
		// Built in (its types are the kernel's own) or not loaded (the
		// kfunc lookup then fails with a clearer error).
		return nil
	}
	return &ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{ExtraRelocationTargets: []*btf.Spec{conntrack}}}
}

func explainLoadError(err error) error {
	if errors.Is(err, ebpf.ErrNotSupported) {
		return fmt.Errorf("%w: load the director program (the conntrack kfuncs need nf_conntrack built in or loaded, with BTF): %w", ErrKernelFeature, err)
	}
	var verifierError *ebpf.VerifierError
	if errors.As(err, &verifierError) {
		return fmt.Errorf("load the director program: the kernel's verifier rejected it: %+v", verifierError)
	}
	return fmt.Errorf("load the director program: %w", err)
}

// AttachUplink attaches the director at TCX ingress of an uplink: the
// interface packets from the router arrive on. The index is looked up in
// the calling thread's network namespace.
func (d *Datapath) AttachUplink(ifindex int) error {
	return d.attach(d.objects.DirectorUplink, ifindex)
}

// AttachTunnel attaches the director at TCX ingress of the tunnel device,
// where forwarded packets arrive with their tunnel key.
func (d *Datapath) AttachTunnel(ifindex int) error {
	return d.attach(d.objects.DirectorTunnel, ifindex)
}

func (d *Datapath) attach(program *ebpf.Program, ifindex int) error {
	l, err := attachTCX(program, ifindex)
	if err != nil {
		return err
	}
	d.links = append(d.links, l)
	return nil
}

// attachPinned puts program at TCX ingress of an interface through the
// link pinned at path, which must be on a bpf filesystem. Where a link
// for that interface is pinned there, it swaps that link's program for
// this one in a single step, so that every packet meets the one or the
// other (replaced is then true); else it attaches a new link and pins it.
// A link pinned there for another interface (one removed, or whose name
// went to another) is removed first.
func (d *Datapath) attachPinned(program *ebpf.Program, ifindex int, path string) (replaced bool, err error) {
	pinned, err := loadPinnedLink(path)
	if err != nil {
		return false, err
	}
	if pinned != nil {
		if attachedTo(pinned, ifindex) {
			if err := pinned.Update(program); err != nil {
				pinned.Close()
				return false, fmt.Errorf("replace the program of the link pinned at %s: %w", path, err)
			}
			d.links = append(d.links, pinned)
			return true, nil
		}
		if err := removeLink(pinned); err != nil {
			return false, fmt.Errorf("remove the stale link pinned at %s: %w", path, err)
		}
	}
	l, err := attachTCX(program, ifindex)
	if err != nil {
		return false, err
	}
	if err := l.Pin(path); err != nil {
		return false, errors.Join(fmt.Errorf("pin the director's link at %s: %w", path, err), l.Close())
	}
	d.links = append(d.links, l)
	return false, nil
}

// loadPinnedLink opens the link pinned at path, nil if none is.
func loadPinnedLink(path string) (link.Link, error) {
	l, err := link.LoadPinnedLink(path, nil)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open the link pinned at %s: %w", path, err)
	}
	return l, nil
}

// attachedTo tells whether l is a TCX ingress link of the interface.
func attachedTo(l link.Link, ifindex int) bool {
	info, err := l.Info()
	if err != nil {
		return false
	}
	tcx := info.TCX()
	return tcx != nil && tcx.Ifindex == uint32(ifindex) && ebpf.AttachType(tcx.AttachType) == ebpf.AttachTCXIngress
}

func attachTCX(program *ebpf.Program, ifindex int) (link.Link, error) {
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: program, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		name := fmt.Sprintf("interface %d", ifindex)
		if iface, lookupErr := net.InterfaceByIndex(ifindex); lookupErr == nil {
			name = iface.Name
		}
		if errors.Is(err, ebpf.ErrNotSupported) {
			return nil, fmt.Errorf("%w: attach to %q: TCX needs Linux 6.6 or later: %w", ErrKernelFeature, name, err)
		}
		return nil, fmt.Errorf("attach to %q: %w", name, err)
	}
	return l, nil
}

// Close detaches the program from every interface, removing the links it
// pinned, and frees the program and its maps.
func (d *Datapath) Close() error {
	var errs []error
	for i := len(d.links) - 1; i >= 0; i-- {
		errs = append(errs, removeLink(d.links[i]))
	}
	d.links = nil
	return errors.Join(append(errs, d.closeObjects())...)
}

// removeLink detaches l, removes its pin and closes it. Removing the pin
// and closing would detach it too, but only once the kernel has freed the
// pin, some time later.
func removeLink(l link.Link) error {
	var errs []error
	if err := l.Detach(); err != nil {
		errs = append(errs, fmt.Errorf("detach the director: %w", err))
	}
	if err := l.Unpin(); err != nil {
		errs = append(errs, fmt.Errorf("unpin the director's link: %w", err))
	}
	if err := l.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close the director's link: %w", err))
	}
	return errors.Join(errs...)
}

// leave lets go of the links, program and maps but leaves the pinned
// links, which keep the program attached with its maps.
func (d *Datapath) leave() error {
	var errs []error
	for _, l := range d.links {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("let go of the director's link: %w", err))
		}
	}
	d.links = nil
	return errors.Join(append(errs, d.closeObjects())...)
}

func (d *Datapath) closeObjects() error {
	if err := d.objects.Close(); err != nil {
		return fmt.Errorf("free the director's program and maps: %w", err)
	}
	return nil
}
