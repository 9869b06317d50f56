//go:build linux

package datapath

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bgplb/bgplb/internal/director"
)

// bpffsDir mounts a bpf filesystem of the test's own (the machine's
// /sys/fs/bpf may be none) and unmounts it when the test ends, which
// frees whatever is still pinned there.
func bpffsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		t.Fatalf("mount a bpf filesystem on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount the bpf filesystem on %s: %v", dir, err)
		}
	})
	return dir
}

// pinned lists the names in the pin directory.
func pinned(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, entry := range entries {
		names = append(names, entry.Name())
	}
	return names
}

func TestOpenWantsItsPinDirectoryOnABPFFilesystem(t *testing.T) {
	ns := newNodeNetns(t)
	plain := t.TempDir()
	for _, dir := range []string{plain, filepath.Join(plain, "bgplb")} {
		opts := Options{TunnelAddress: netip.MustParseAddr("10.98.0.1"), PinDir: dir}
		inNetns(t, ns, func() {
			n, err := Open(opts)
			if err == nil {
				n.Close()
				t.Fatalf("Open took pin directory %s, which is not on a bpf filesystem", dir)
			}
			if want := "mount bpffs"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(plain, "bgplb")); err == nil {
		t.Error("Open made a pin directory off the bpf filesystem")
	}
}

// Open attaches nothing: the first Apply attaches the program, with the
// maps filled, and pins its links, one per interface and role.
func TestTheFirstApplyAttachesAndPins(t *testing.T) {
	ns := newNodeNetns(t)
	opts := nodeOptions(t)
	n := openNodeIn(t, ns, opts)
	var uplink, tunnel int
	inNetns(t, ns, func() {
		uplink, tunnel = interfaceIndex(t, "up0"), interfaceIndex(t, DefaultTunnelDevice().Name)
		if attachedAtIngress(t, uplink) != 0 || attachedAtIngress(t, tunnel) != 0 {
			t.Error("Open attached the program before any plan was applied")
		}
	})
	applyPlan(t, n)
	inNetns(t, ns, func() {
		if attachedAtIngress(t, uplink) != 1 || attachedAtIngress(t, tunnel) != 1 {
			t.Error("the first Apply did not attach the program to the uplink and the tunnel")
		}
	})
	want := []string{"link-tunnel-bgplb-vx0", "link-uplink-up0", deviceRecordFile}
	if got := pinned(t, opts.PinDir); !slices.Equal(got, want) {
		t.Errorf("pinned %q, want %q", got, want)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if got := pinned(t, opts.PinDir); len(got) != 0 {
		t.Errorf("Close left %q pinned", got)
	}
	inNetns(t, ns, func() {
		if attachedAtIngress(t, uplink) != 0 {
			t.Error("Close left the program on the uplink")
		}
	})
}

// A speaker told of fewer uplinks than the one before it removes the
// links of the others once it has taken the datapath over.
func TestTheLinkOfAnUplinkNoLongerUsedIsRemoved(t *testing.T) {
	ns := newNodeNetns(t)
	inNetnsCommand(t, ns, "ip", "link", "add", "up1", "type", "veth", "peer", "name", "up1p")
	inNetnsCommand(t, ns, "ip", "link", "set", "up1", "up")
	opts := nodeOptions(t)
	opts.Uplinks = []string{"up0", "up1"}
	first := openNodeIn(t, ns, opts)
	applyPlan(t, first)
	if err := first.Leave(); err != nil {
		t.Fatal(err)
	}
	opts.Uplinks = []string{"up0"}
	second := openNodeIn(t, ns, opts)
	applyPlan(t, second)
	if got := pinned(t, opts.PinDir); slices.Contains(got, "link-uplink-up1") || !slices.Contains(got, "link-uplink-up0") {
		t.Errorf("pinned %q, want up0's link and not up1's", got)
	}
	inNetns(t, ns, func() {
		if n := attachedAtIngress(t, interfaceIndex(t, "up1")); n != 0 {
			t.Errorf("%d programs on up1, which the speaker no longer uses", n)
		}
		if n := attachedAtIngress(t, interfaceIndex(t, "up0")); n != 1 {
			t.Errorf("%d programs on up0, want the one that replaced the earlier speaker's", n)
		}
	})
	requireFinding(t, second.Findings().Changed, "removed the pinned link on up1 (uplink), which this speaker does not use")
}

// applyPlan applies to n, as node a, the plan of serviceV4 served by
// nodes a, b and c.
func applyPlan(t *testing.T, n *Node) {
	t.Helper()
	if err := n.Apply(context.Background(), director.ApplyRequest{Plan: directedPlan(t, serviceV4, director.Serving), Self: "a"}); err != nil {
		t.Fatal(err)
	}
}

// requireFinding checks that one of the sentences starts with want.
func requireFinding(t *testing.T, sentences []string, want string) {
	t.Helper()
	if !slices.ContainsFunc(sentences, func(s string) bool { return strings.HasPrefix(s, want) }) {
		t.Errorf("no sentence starts with %q in %q", want, sentences)
	}
}
