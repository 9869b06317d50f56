//go:build linux

package datapath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// What outlives a speaker's restart lives in its pin directory: one
// pinned TCX link per attached interface and role, named
// link-<role>-<interface>, which keeps the program attached with its
// maps, and the record of what was done to the tunnel device
// (deviceRecordFile, see handover.go).

// DefaultPinDir is the pin directory a zero Options.PinDir stands for.
const DefaultPinDir = "/sys/fs/bpf/bgplb"

const linkPinPrefix = "link-"

// Roles of a hook: which of the program's two entry points it runs.
const (
	roleUplink = "uplink"
	roleTunnel = "tunnel"
)

// hook is an interface the program goes on, in one role.
type hook struct {
	role      string
	name      string
	ifindex   int
	installed bool
}

func (h hook) String() string { return fmt.Sprintf("%s (%s)", h.name, h.role) }

// pinName is the name of the hook's pinned link in the pin directory.
func (h hook) pinName() string { return linkPinPrefix + h.role + "-" + h.name }

// hookOfPin returns the hook a pinned link's name stands for, false for a
// file that is no pinned link of the director's.
func hookOfPin(name string) (hook, bool) {
	rest, ok := strings.CutPrefix(name, linkPinPrefix)
	if !ok {
		return hook{}, false
	}
	role, iface, ok := strings.Cut(rest, "-")
	if !ok || (role != roleUplink && role != roleTunnel) || iface == "" {
		return hook{}, false
	}
	return hook{role: role, name: iface}, true
}

// ensurePinDir makes sure dir is a directory on a bpf filesystem,
// making it (not its parents) if it is missing.
func ensurePinDir(dir string) error {
	info, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := requireBPFFS(filepath.Dir(dir), dir); err != nil {
			return err
		}
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("make the director's pin directory %q: %w", dir, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("the director's pin directory %q: %w", dir, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("the director's pin directory %q is not a directory", dir)
	}
	return requireBPFFS(dir, dir)
}

// requireBPFFS fails unless path is on a bpf filesystem; pinDir is the
// pin directory the check is for.
func requireBPFFS(path, pinDir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fmt.Errorf("the director's pin directory %q: %s: %w (mount bpffs: mount -t bpf bpf %s)", pinDir, path, err, path)
	}
	if st.Type != unix.BPF_FS_MAGIC {
		return fmt.Errorf("the director's pin directory %q is not on a bpf filesystem (mount bpffs: mount -t bpf bpf %s)", pinDir, path)
	}
	return nil
}

// pinnedHooks returns the hooks whose links are pinned in dir.
func pinnedHooks(dir string) ([]hook, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list the director's pin directory: %w", err)
	}
	var hooks []hook
	for _, entry := range entries {
		if h, ok := hookOfPin(entry.Name()); ok {
			hooks = append(hooks, h)
		}
	}
	return hooks, nil
}

// installHooks puts the program on every hook not done yet, through the
// hook's pinned link, and removes the links pinned for hooks the node no
// longer has. It returns what it did, in words.
func (n *Node) installHooks() ([]string, error) {
	var done []string
	wanted := map[string]bool{}
	for i := range n.hooks {
		h := &n.hooks[i]
		wanted[h.pinName()] = true
		if h.installed {
			continue
		}
		replaced, err := n.datapath.attachPinned(n.program(h.role), h.ifindex, filepath.Join(n.pinDir, h.pinName()))
		if err != nil {
			return done, err
		}
		h.installed = true
		if replaced {
			done = append(done, fmt.Sprintf("took over the datapath on %s: replaced the earlier speaker's program in one step", h))
		} else {
			done = append(done, fmt.Sprintf("attached the program to %s", h))
		}
	}
	removed, err := removePinnedLinks(n.pinDir, func(name string) bool { return !wanted[name] })
	for _, h := range removed {
		done = append(done, fmt.Sprintf("removed the pinned link on %s, which this speaker does not use", h))
	}
	return done, err
}

func (n *Node) program(role string) *ebpf.Program {
	if role == roleTunnel {
		return n.datapath.objects.DirectorTunnel
	}
	return n.datapath.objects.DirectorUplink
}

// removePinnedLinks detaches and removes the director's links pinned in
// dir whose names remove accepts.
func removePinnedLinks(dir string, remove func(name string) bool) ([]hook, error) {
	pinned, err := pinnedHooks(dir)
	if err != nil {
		return nil, err
	}
	var removed []hook
	var errs []error
	for _, h := range pinned {
		if !remove(h.pinName()) {
			continue
		}
		path := filepath.Join(dir, h.pinName())
		l, err := loadPinnedLink(path)
		if err == nil && l != nil {
			err = removeLink(l)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove the director's link pinned at %s: %w", path, err))
			continue
		}
		removed = append(removed, h)
	}
	return removed, errors.Join(errs...)
}
