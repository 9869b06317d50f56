package ociimage

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// programImage is one program's image for one platform: the base layer,
// then the binary's.
func programImage(p Program, platform v1.Platform, src Source, base v1.Layer, binary []byte) (v1.Image, error) {
	created := v1.Time{Time: src.created()}
	annotations := src.annotations("bgplb "+p.Name, p.Description)
	// The image uses OCI media types throughout; the empty image starts
	// with Docker's.
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: platform.Architecture,
		OS:           platform.OS,
		Variant:      platform.Variant,
		Created:      created,
		Config: v1.Config{
			Entrypoint: []string{p.binaryPath()},
			User:       imageUser(),
			WorkingDir: "/",
			// A PATH lets kubectl exec and debug containers run the
			// binary by its name.
			Env:    []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
			Labels: annotations,
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s: config: %w", p.Name, platform, err)
	}
	binLayer, err := newLayer(binaryEntries(p, binary), src.created())
	if err != nil {
		return nil, fmt.Errorf("%s %s: binary layer: %w", p.Name, platform, err)
	}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: created, CreatedBy: "bgplb base: nonroot user, /tmp"}},
		mutate.Addendum{Layer: binLayer, History: v1.History{Created: created, CreatedBy: "bgplb " + p.Name + " binary " + p.binaryPath()}},
	)
	if err != nil {
		return nil, fmt.Errorf("%s %s: layers: %w", p.Name, platform, err)
	}
	annotated, ok := mutate.Annotations(img, annotations).(v1.Image)
	if !ok {
		return nil, fmt.Errorf("%s %s: annotating the manifest did not give an image", p.Name, platform)
	}
	return annotated, nil
}

// platformImage is one entry of a multi-platform index.
type platformImage struct {
	platform v1.Platform
	image    v1.Image
}

// programIndex puts a program's per-platform images into one OCI index,
// so that one tag serves every architecture.
func programIndex(p Program, src Source, images []platformImage) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, pi := range images {
		platform := pi.platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        pi.image,
			Descriptor: v1.Descriptor{Platform: &platform},
		})
	}
	annotated, ok := mutate.Annotations(idx, src.annotations("bgplb "+p.Name, p.Description)).(v1.ImageIndex)
	if !ok {
		return nil, fmt.Errorf("%s: annotating the index did not give an index", p.Name)
	}
	return annotated, nil
}

// compressedSize is what a node downloads for the image: its manifest,
// its config and its compressed layers.
func compressedSize(img v1.Image) (int64, error) {
	manifest, err := img.Manifest()
	if err != nil {
		return 0, fmt.Errorf("manifest: %w", err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, fmt.Errorf("manifest: %w", err)
	}
	size := int64(len(raw)) + manifest.Config.Size
	for _, l := range manifest.Layers {
		size += l.Size
	}
	return size, nil
}
