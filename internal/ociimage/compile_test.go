package ociimage_test

import (
	"debug/elf"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bgplb/bgplb/internal/ociimage"
)

// TestCompileMakesStaticStrippedStampedBinaries cross-compiles a small
// command for both architectures and checks the ELF files: the right
// machine, no dynamic loader (static), no symbol table (stripped), no
// build machine paths (trimmed), and the version stamped in.
func TestCompileMakesStaticStrippedStampedBinaries(t *testing.T) {
	opts, _ := testOptions(t)
	program := ociimage.Program{Name: "stamped", Package: "./internal/ociimage/testdata/stamped"}
	for _, tt := range []struct {
		platform v1.Platform
		machine  elf.Machine
	}{
		{v1.Platform{OS: "linux", Architecture: "amd64"}, elf.EM_X86_64},
		{v1.Platform{OS: "linux", Architecture: "arm64"}, elf.EM_AARCH64},
	} {
		paths, err := ociimage.Compile(t.Context(), opts.ModuleDir, t.TempDir(), tt.platform, opts.Source, []ociimage.Program{program})
		if err != nil {
			t.Fatal(err)
		}
		path := paths["stamped"]
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if f.Machine != tt.machine {
			t.Errorf("%s: machine %s, want %s", tt.platform, f.Machine, tt.machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s: has a %s program header: not static", tt.platform, p.Type)
			}
		}
		if s := f.Section(".symtab"); s != nil {
			t.Errorf("%s: has a symbol table: not stripped", tt.platform)
		}
		f.Close()
		if tt.platform.Architecture != runtime.GOARCH {
			continue
		}
		out, err := exec.Command(path).Output()
		if err != nil {
			t.Fatalf("run %s: %v", path, err)
		}
		want := "bgplb stamped " + opts.Source.Version + " (revision " + opts.Source.Revision + ", "
		if !strings.HasPrefix(string(out), want) {
			t.Errorf("printed %q, want it to start with %q", out, want)
		}
		if strings.Contains(string(out), opts.ModuleDir) {
			t.Errorf("printed the build machine's path: %q", out)
		}
	}
}

func TestCompileReportsTheCompilerOutput(t *testing.T) {
	opts, _ := testOptions(t)
	_, err := ociimage.Compile(t.Context(), opts.ModuleDir, t.TempDir(), v1.Platform{OS: "linux", Architecture: "amd64"}, opts.Source,
		[]ociimage.Program{{Name: "missing", Package: "./cmd/missing"}})
	if err == nil || !strings.Contains(err.Error(), "cmd/missing") {
		t.Errorf("error %v, want go build's message naming ./cmd/missing", err)
	}
}
