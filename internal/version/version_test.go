package version

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolveFallsBackToBuildInfo(t *testing.T) {
	t.Parallel()
	const sha = "0123456789abcdef0123456789abcdef01234567"
	withVCS := func(modified string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: sha}, {Key: "vcs.modified", Value: modified}}}, true
		}
	}
	installed := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.99.2", Main: debug.Module{Version: "v1.2.3"}}, true
	}
	noBuildInfo := func() (*debug.BuildInfo, bool) { return nil, false }

	for _, tt := range []struct {
		name           string
		linkedVersion  string
		linkedRevision string
		readBuildInfo  func() (*debug.BuildInfo, bool)
		want           Info
	}{
		{"linked values win", "v0.1.0-3-gabc1234", "feed", withVCS("false"),
			Info{Version: "v0.1.0-3-gabc1234", Revision: "feed", GoVersion: "go1.99.1"}},
		{"git checkout without stamp", "", "", withVCS("false"),
			Info{Version: UnknownVersion, Revision: sha, GoVersion: "go1.99.1"}},
		{"modified checkout", "", "", withVCS("true"),
			Info{Version: UnknownVersion, Revision: sha + "-dirty", GoVersion: "go1.99.1"}},
		{"go install of a tagged module", "", "", installed,
			Info{Version: "v1.2.3", Revision: UnknownRevision, GoVersion: "go1.99.2"}},
		{"no build information", "", "", noBuildInfo,
			Info{Version: UnknownVersion, Revision: UnknownRevision, GoVersion: runtime.Version()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolve(tt.linkedVersion, tt.linkedRevision, tt.readBuildInfo); got != tt.want {
				t.Errorf("resolve = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLine(t *testing.T) {
	t.Parallel()
	got := Info{Version: "v0.1.0", Revision: "abc", GoVersion: "go1.26.1"}.Line("speaker")
	if want := "bgplb speaker v0.1.0 (revision abc, go1.26.1)"; got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
}

// TestShippedBinariesReportTheLinkedVersion builds every shipped command
// with the linker flags of the Makefile and checks that each prints the
// stamped version and revision for --version (and bgplbctl also for its
// version command), and exits 0.
func TestShippedBinariesReportTheLinkedVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every command")
	}
	const stampedVersion, stampedRevision = "v9.8.7-6-gtest", "fedcba9876543210fedcba9876543210fedcba98"
	dir := t.TempDir()
	build := exec.Command("go", "build", "-ldflags", LinkerFlags(stampedVersion, stampedRevision), "-o", dir+"/",
		"github.com/bgplb/bgplb/cmd/controller", "github.com/bgplb/bgplb/cmd/speaker",
		"github.com/bgplb/bgplb/cmd/bgplbctl", "github.com/bgplb/bgplb/cmd/kubectl-bgplb")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tt := range []struct {
		program string
		args    []string
	}{
		{"controller", []string{"--version"}},
		{"speaker", []string{"--version"}},
		{"bgplbctl", []string{"--version"}},
		{"bgplbctl", []string{"version"}},
		{"kubectl-bgplb", []string{"--version"}},
		{"kubectl-bgplb", []string{"version"}},
	} {
		out, err := exec.Command(filepath.Join(dir, tt.program), tt.args...).Output()
		if err != nil {
			t.Errorf("%s %s: %v", tt.program, strings.Join(tt.args, " "), err)
			continue
		}
		want := Info{Version: stampedVersion, Revision: stampedRevision, GoVersion: runtime.Version()}.Line(tt.program) + "\n"
		if string(out) != want {
			t.Errorf("%s %s printed %q, want %q", tt.program, strings.Join(tt.args, " "), out, want)
		}
	}
}
