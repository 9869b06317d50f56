package ociimage

import (
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// artifact is an OCI image manifest whose config is not a container
// config but a document of its own media type, as OCI artifacts such as
// Helm charts have. go-containerregistry's mutate package always writes a
// container config, so this small image core supplies the raw bytes
// itself; partial turns it into a v1.Image that remote and layout accept.
type artifact struct {
	manifest []byte
	config   []byte
	blobs    map[v1.Hash]v1.Layer
}

// newArtifact makes an artifact of one config document and the layers,
// each given with its media type.
func newArtifact(configType types.MediaType, config []byte, layers []v1.Layer, annotations map[string]string) (v1.Image, error) {
	a := &artifact{config: config, blobs: map[v1.Hash]v1.Layer{}}
	configBlob := static.NewLayer(config, configType)
	configDesc, err := partial.Descriptor(configBlob)
	if err != nil {
		return nil, fmt.Errorf("artifact config: %w", err)
	}
	manifest := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        *configDesc,
		Annotations:   annotations,
	}
	a.blobs[configDesc.Digest] = configBlob
	for i, l := range layers {
		desc, err := partial.Descriptor(l)
		if err != nil {
			return nil, fmt.Errorf("artifact layer %d: %w", i, err)
		}
		manifest.Layers = append(manifest.Layers, *desc)
		a.blobs[desc.Digest] = l
	}
	if a.manifest, err = json.Marshal(manifest); err != nil {
		return nil, fmt.Errorf("artifact manifest: %w", err)
	}
	img, err := partial.CompressedToImage(a)
	if err != nil {
		return nil, fmt.Errorf("artifact: %w", err)
	}
	return img, nil
}

func (a *artifact) RawConfigFile() ([]byte, error) { return a.config, nil }

func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func (a *artifact) RawManifest() ([]byte, error) { return a.manifest, nil }

func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := a.blobs[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("artifact has no blob %s", h)
}
