package ociimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Options describe one build of every image (and of the chart).
type Options struct {
	// ModuleDir is the root of the bgplb module.
	ModuleDir string
	// OutDir receives everything; see Result for what goes where.
	OutDir string
	Source Source
	// Programs get one image each.
	Programs []Program
	// Platforms each image is built for, all in one index.
	Platforms []v1.Platform
	// ImageRegistry, if set, is where the images are meant to be pushed
	// (host/path); the layouts and archives name each image
	// ImageRegistry/<program>:<version>, which is the name a container
	// runtime gives an image it imports from an archive.
	ImageRegistry string
	// ChartDir, if set, is the Helm chart to package with the images.
	ChartDir string
	// Logf receives progress lines; nil is quiet.
	Logf func(format string, args ...any)
}

// Artifact is one thing a registry stores under one tag: an image index
// or the chart.
type Artifact struct {
	// Name is the program's or the chart's.
	Name string
	// Repository is the path under the registry: the program's name, or
	// charts/<chart name>, so that charts sit apart from images.
	Repository string
	Tag        string
	// Digest and MediaType are those of the index or manifest the tag
	// points to.
	Digest    v1.Hash
	MediaType types.MediaType
	// Layout is the OCI image layout folder; Archive is the same as one
	// tar file.
	Layout  string
	Archive string
	// Sizes is the compressed size per platform; a chart has one entry
	// without a platform.
	Sizes []PlatformSize
}

// PlatformSize is what a node of one platform downloads for an image.
type PlatformSize struct {
	Platform string
	Bytes    int64
}

// Result tells what a build wrote.
type Result struct {
	// Artifacts lists the programs' images in the order of
	// Options.Programs, then the chart.
	Artifacts []Artifact
	// ChartArchive is the packaged chart (.tgz), if any.
	ChartArchive string
}

// chartRepositoryPrefix puts a chart at <registry>/charts/<name>, which
// is what helm push oci://<registry>/charts does.
const chartRepositoryPrefix = "charts/"

// The folders under Options.OutDir.
const (
	binDir      = "bin"
	ociDir      = "oci"
	archivesDir = "archives"
	chartDir    = "chart"
)

// BinaryDir is where Build puts the binaries of one platform.
func BinaryDir(outDir string, platform v1.Platform) string {
	return filepath.Join(outDir, binDir, strings.ReplaceAll(platform.String(), "/", "_"))
}

// Build compiles every program for every platform, then assembles the
// images and packages the chart (see Assemble).
func Build(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	binaries := make(map[string]map[string]string, len(opts.Platforms))
	for _, platform := range opts.Platforms {
		opts.logf("compiling %d programs for %s", len(opts.Programs), platform.String())
		paths, err := Compile(ctx, opts.ModuleDir, BinaryDir(opts.OutDir, platform), platform, opts.Source, opts.Programs)
		if err != nil {
			return nil, err
		}
		binaries[platform.String()] = paths
	}
	return Assemble(opts, binaries)
}

// Assemble makes each program's multi-platform image from binaries that
// are already built (by platform, then program name) and packages the
// chart. It replaces OutDir/oci (one OCI layout per artifact, at its
// repository path), OutDir/archives (each layout as a tar file) and
// OutDir/chart (the .tgz).
func Assemble(opts Options, binaries map[string]map[string]string) (*Result, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	for _, dir := range []string{ociDir, archivesDir, chartDir} {
		if err := os.RemoveAll(filepath.Join(opts.OutDir, dir)); err != nil {
			return nil, fmt.Errorf("clear the previous build: %w", err)
		}
		if err := os.MkdirAll(filepath.Join(opts.OutDir, dir), 0o755); err != nil {
			return nil, fmt.Errorf("output folder: %w", err)
		}
	}
	base, err := baseLayer(opts.Source.created())
	if err != nil {
		return nil, err
	}
	result := &Result{}
	for _, p := range opts.Programs {
		artifact, err := opts.assembleProgram(p, base, binaries)
		if err != nil {
			return nil, err
		}
		result.Artifacts = append(result.Artifacts, *artifact)
	}
	if opts.ChartDir != "" {
		artifact, archive, err := opts.assembleChart()
		if err != nil {
			return nil, err
		}
		result.Artifacts = append(result.Artifacts, *artifact)
		result.ChartArchive = archive
	}
	return result, nil
}

func (opts Options) assembleProgram(p Program, base v1.Layer, binaries map[string]map[string]string) (*Artifact, error) {
	artifact := &Artifact{Name: p.Name, Repository: p.Name, Tag: opts.Source.Version, MediaType: types.OCIImageIndex}
	var images []platformImage
	for _, platform := range opts.Platforms {
		path, ok := binaries[platform.String()][p.Name]
		if !ok {
			return nil, fmt.Errorf("no %s binary for %s", p.Name, platform.String())
		}
		binary, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s binary for %s: %w", p.Name, platform.String(), err)
		}
		img, err := programImage(p, platform, opts.Source, base, binary)
		if err != nil {
			return nil, err
		}
		size, err := compressedSize(img)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", p.Name, platform.String(), err)
		}
		artifact.Sizes = append(artifact.Sizes, PlatformSize{Platform: platform.String(), Bytes: size})
		images = append(images, platformImage{platform: platform, image: img})
	}
	idx, err := programIndex(p, opts.Source, images)
	if err != nil {
		return nil, err
	}
	if artifact.Digest, err = idx.Digest(); err != nil {
		return nil, fmt.Errorf("%s index digest: %w", p.Name, err)
	}
	if err := opts.write(artifact, idx); err != nil {
		return nil, err
	}
	opts.logf("%s:%s %s", p.Name, artifact.Tag, artifact.Digest)
	return artifact, nil
}

func (opts Options) assembleChart() (*Artifact, string, error) {
	chart, err := packageChart(opts.ChartDir, opts.Source)
	if err != nil {
		return nil, "", err
	}
	archive := filepath.Join(opts.OutDir, chartDir, fmt.Sprintf("%s-%s.tgz", chart.name, chart.version))
	if err := os.WriteFile(archive, chart.archive, 0o644); err != nil {
		return nil, "", fmt.Errorf("write chart archive: %w", err)
	}
	artifact := &Artifact{Name: chart.name, Repository: chartRepositoryPrefix + chart.name, Tag: chart.version, MediaType: types.OCIManifestSchema1}
	if artifact.Digest, err = chart.artifact.Digest(); err != nil {
		return nil, "", fmt.Errorf("chart digest: %w", err)
	}
	size, err := compressedSize(chart.artifact)
	if err != nil {
		return nil, "", fmt.Errorf("chart: %w", err)
	}
	artifact.Sizes = []PlatformSize{{Bytes: size}}
	if err := opts.write(artifact, chart.artifact); err != nil {
		return nil, "", err
	}
	opts.logf("chart %s:%s %s", chart.name, chart.version, artifact.Digest)
	return artifact, archive, nil
}

// write stores the artifact as a layout and as an archive and records
// where.
func (opts Options) write(artifact *Artifact, item mutate.Appendable) error {
	artifact.Layout = filepath.Join(opts.OutDir, ociDir, filepath.FromSlash(artifact.Repository))
	artifact.Archive = filepath.Join(opts.OutDir, archivesDir, strings.ReplaceAll(artifact.Repository, "/", "-")+".tar")
	if err := os.MkdirAll(filepath.Dir(artifact.Layout), 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	fullName := ""
	if opts.ImageRegistry != "" {
		fullName = strings.TrimSuffix(opts.ImageRegistry, "/") + "/" + artifact.Repository + ":" + artifact.Tag
	}
	if err := writeLayout(artifact.Layout, item, artifact.Tag, fullName); err != nil {
		return err
	}
	return archiveDir(artifact.Layout, artifact.Archive, opts.Source.created())
}

func (opts Options) validate() error {
	var errs []error
	if opts.ModuleDir == "" || opts.OutDir == "" {
		errs = append(errs, errors.New("both the module folder and the output folder are needed"))
	}
	if err := opts.Source.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(opts.Platforms) == 0 {
		errs = append(errs, errors.New("no platform to build for"))
	}
	for _, p := range opts.Platforms {
		if p.OS == "" || p.Architecture == "" {
			errs = append(errs, fmt.Errorf("platform %q: operating system and architecture are both needed (linux/amd64)", p.String()))
		}
	}
	seen := map[string]bool{}
	for _, p := range opts.Programs {
		if err := p.validate(); err != nil {
			errs = append(errs, err)
		}
		if p.Name+"/" == chartRepositoryPrefix {
			errs = append(errs, fmt.Errorf("program %q: the name is the folder of the charts' repositories", p.Name))
		}
		if seen[p.Name] {
			errs = append(errs, fmt.Errorf("program %q is listed twice", p.Name))
		}
		seen[p.Name] = true
	}
	return errors.Join(errs...)
}

func (opts Options) logf(format string, args ...any) {
	if opts.Logf != nil {
		opts.Logf(format, args...)
	}
}
