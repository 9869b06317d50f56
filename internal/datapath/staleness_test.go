//go:build linux

package datapath

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The committed object must be built from the committed C sources. The
// checksum test needs no compiler; where clang is installed, the rebuild
// test also compiles the sources again and compares the result.

const staleHint = "the committed director object is stale: run make bpf"

func TestCommittedObjectIsBuiltFromTheSources(t *testing.T) {
	recorded := readChecksums(t)
	sources, err := filepath.Glob("bpf/*.[ch]")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, path := range sources {
		name := filepath.Base(path)
		names = append(names, name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); recorded[name] != got {
			t.Errorf("%s has checksum %s, the object was built from %q; %s", path, got, recorded[name], staleHint)
		}
	}
	for name := range recorded {
		if !slices.Contains(names, name) {
			t.Errorf("the object was built from bpf/%s, which is gone; %s", name, staleHint)
		}
	}
}

// readChecksums reads bpf/sources.sha256, in sha256sum's format.
func readChecksums(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("bpf/sources.sha256")
	if err != nil {
		t.Fatalf("%v; %s", err, staleHint)
	}
	sums := map[string]string{}
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		sum, name, ok := strings.Cut(scanner.Text(), "  ")
		if !ok {
			t.Fatalf("bpf/sources.sha256: line %q is not \"checksum  name\"", scanner.Text())
		}
		sums[name] = sum
	}
	return sums
}

func TestCommittedObjectRebuildsIdentically(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("clang is not installed; TestCommittedObjectIsBuiltFromTheSources checks the sources")
	}
	version, err := exec.Command(clang, "--version").Output()
	if err != nil {
		t.Fatalf("clang --version: %v", err)
	}
	recorded, err := os.ReadFile("bpf/clang-version")
	if err != nil {
		t.Fatal(err)
	}
	installed := strings.SplitN(string(version), "\n", 2)[0]
	if installed != strings.TrimSpace(string(recorded)) {
		t.Skipf("the object was built by %q, the installed compiler is %q: another compiler may emit other bytes", strings.TrimSpace(string(recorded)), installed)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", bpf2goArguments(t, "-output-dir", dir)...)
	cmd.Env = append(os.Environ(), "GOPACKAGE=datapath")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	for _, name := range []string{"director_bpfel.o", "director_bpfel.go"} {
		committed, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		rebuilt, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(committed, rebuilt) {
			t.Errorf("%s differs from a rebuild of the sources; %s", name, staleHint)
		}
	}
}

// bpf2goArguments are the go command's arguments in generate.go's bpf2go
// line, so that the rebuild is the generation itself, with options added
// to bpf2go's own.
func bpf2goArguments(t *testing.T, options ...string) []string {
	t.Helper()
	data, err := os.ReadFile("generate.go")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		command, ok := strings.CutPrefix(line, "//go:generate go ")
		if !ok || !strings.Contains(command, "bpf2go") {
			continue
		}
		arguments := strings.Fields(command)
		tool := slices.IndexFunc(arguments, func(a string) bool { return strings.HasSuffix(a, "/bpf2go") })
		return slices.Insert(arguments, tool+1, options...)
	}
	t.Fatal("generate.go has no go:generate line running bpf2go")
	return nil
}
