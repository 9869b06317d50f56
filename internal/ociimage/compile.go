package ociimage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bgplb/bgplb/internal/version"
)

// Compile builds the programs for one platform as static, stripped
// binaries stamped with the source's version, into outDir, and returns
// the paths of the binaries by program name. Static (no cgo) because the
// image has no C library; -trimpath so that the binary does not carry
// the build machine's paths and two machines build the same bytes.
func Compile(ctx context.Context, moduleDir, outDir string, platform v1.Platform, src Source, programs []Program) (map[string]string, error) {
	if platform.OS == "" || platform.Architecture == "" {
		return nil, fmt.Errorf("platform %q: operating system and architecture are both needed", platform.String())
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("binary folder: %w", err)
	}
	args := []string{"build", "-trimpath",
		"-ldflags", "-s -w " + version.LinkerFlags(src.Version, src.Revision),
		"-o", outDir + string(filepath.Separator)}
	paths := make(map[string]string, len(programs))
	for _, p := range programs {
		if err := p.validate(); err != nil {
			return nil, err
		}
		args = append(args, p.Package)
		paths[p.Name] = filepath.Join(outDir, p.Name)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+platform.OS, "GOARCH="+platform.Architecture)
	if platform.Architecture == "arm" && platform.Variant != "" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(platform.Variant, "v"))
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build for %s: %w\n%s", platform.String(), err, stderr.Bytes())
	}
	return paths, nil
}
