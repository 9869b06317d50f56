package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// The director's datapath pins its links on a bpf filesystem so that it
// outlives a speaker's restart. A lab with the director mounts one of
// its own in its directory, with a pin directory per node, so that
// nothing outlives the lab: Close unmounts it, which frees whatever is
// still pinned, and ReapStale unmounts what a killed lab left.

// mountPins mounts the lab's bpf filesystem, which Close unmounts.
func (l *Lab) mountPins() error {
	dir := l.pinsMount()
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("make the mount point of the director's pins: %w", err)
	}
	if err := syscall.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		return fmt.Errorf("mount a bpf filesystem on %s for the director's pins: %w", dir, err)
	}
	l.onClose(func() error { return unmountUnder(dir) })
	return nil
}

func (l *Lab) pinsMount() string { return filepath.Join(l.Dir, "bpf") }

// pinDir returns the node's pin directory, which the speaker's user owns.
func (l *Lab) pinDir(n *Node) (string, error) {
	dir := filepath.Join(l.pinsMount(), n.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("make the director's pin directory of %s: %w", n.Name, err)
	}
	if err := os.Chown(dir, chartUID, chartUID); err != nil {
		return "", fmt.Errorf("give the director's pin directory of %s to the speaker: %w", n.Name, err)
	}
	return dir, nil
}

// unmountUnder unmounts every mount at or below dir, the deepest first,
// detaching each even while it is busy.
func unmountUnder(dir string) error {
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return err
	}
	var points []string
	for line := range strings.Lines(string(mounts)) {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		if point := unescapeMountPoint(fields[1]); point == dir || strings.HasPrefix(point, dir+"/") {
			points = append(points, point)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, point := range points {
		if err := syscall.Unmount(point, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", point, err)
		}
	}
	return nil
}

// unescapeMountPoint undoes the octal escapes /proc/self/mounts writes
// for the characters that would break its lines apart.
func unescapeMountPoint(field string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(field)
}
