// Package version tells which build of bgplb is running: the release
// version and source revision stamped into the binary at link time, with
// fallbacks for binaries built without the stamp (go run, go test,
// go install).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// The build stamps these two variables at link time; they are the only
// package-level variables bgplb's code writes, and only the linker does:
//
//	-X github.com/bgplb/bgplb/internal/version.version=$(git describe --tags --always --dirty)
//	-X github.com/bgplb/bgplb/internal/version.revision=$(git rev-parse HEAD)
//
// LinkerFlags returns exactly these flags, so the Makefile and the image
// builder cannot name a variable differently.
var (
	version  string
	revision string
)

// Values used when neither the linker nor the Go toolchain's build
// information tells the version or the revision.
const (
	UnknownVersion  = "devel"
	UnknownRevision = "unknown"
)

// Info describes one build.
type Info struct {
	// Version is the release, as git describe prints it (v0.1.0,
	// v0.1.0-3-gabc1234-dirty), or "devel".
	Version string
	// Revision is the full commit hash the binary was built from, or
	// "unknown".
	Revision string
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
}

// Get returns the running binary's build information.
func Get() Info {
	return resolve(version, revision, debug.ReadBuildInfo)
}

// resolve prefers the values stamped by the linker and falls back to the
// build information the Go toolchain embeds: the main module's version
// (set by go install module@version) and the VCS revision (set by go build
// in a git checkout).
func resolve(linkedVersion, linkedRevision string, readBuildInfo func() (*debug.BuildInfo, bool)) Info {
	info := Info{Version: linkedVersion, Revision: linkedRevision, GoVersion: runtime.Version()}
	build, ok := readBuildInfo()
	if ok {
		info.GoVersion = build.GoVersion
	}
	if info.Version == "" && ok && build.Main.Version != "" && build.Main.Version != "(devel)" {
		info.Version = build.Main.Version
	}
	if info.Revision == "" && ok {
		info.Revision = buildSetting(build, "vcs.revision")
		if info.Revision != "" && buildSetting(build, "vcs.modified") == "true" {
			info.Revision += "-dirty"
		}
	}
	if info.Version == "" {
		info.Version = UnknownVersion
	}
	if info.Revision == "" {
		info.Revision = UnknownRevision
	}
	return info
}

func buildSetting(build *debug.BuildInfo, key string) string {
	for _, s := range build.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// Line is the one line a program prints for --version, such as
// "bgplb controller v0.1.0 (revision 0123abcd…, go1.26.1)".
func (i Info) Line(program string) string {
	return fmt.Sprintf("bgplb %s %s (revision %s, %s)", program, i.Version, i.Revision, i.GoVersion)
}

// LinkerFlags returns the go build -ldflags arguments that stamp a version
// and a revision into a binary.
func LinkerFlags(version, revision string) string {
	const pkg = "github.com/bgplb/bgplb/internal/version"
	return fmt.Sprintf("-X %s.version=%s -X %s.revision=%s", pkg, version, pkg, revision)
}
