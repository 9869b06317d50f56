package ociimage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushOptions say where Push sends a build.
type PushOptions struct {
	// Registry is host[:port]/path; each artifact goes to
	// Registry/<name>:<tag>.
	Registry string
	// Insecure allows plain HTTP to a registry that is not on the
	// loopback or a private address (those always get HTTP).
	Insecure bool
	// Remote options come after the default ones: the docker config's
	// credentials and ctx.
	Remote []remote.Option
}

// Pushed is one artifact as the registry has it.
type Pushed struct {
	Reference string
	Digest    v1.Hash
}

// Push sends every artifact of the build in outDir (the layouts under
// OutDir/oci that Build wrote) to the registry, each under its name and
// tag, and returns them in the order of their repositories. It pushes exactly
// what was built, so the digests are those Build reported.
func Push(ctx context.Context, outDir string, opts PushOptions) ([]Pushed, error) {
	registry := strings.TrimSuffix(opts.Registry, "/")
	if registry == "" {
		return nil, errors.New("no registry to push to")
	}
	var nameOpts []name.Option
	if opts.Insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	remoteOpts := append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts.Remote...)

	root := filepath.Join(outDir, ociDir)
	if _, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("read the build in %q (make images first): %w", root, err)
	}
	var pushed []Pushed
	// Each layout sits at its repository's path; WalkDir's lexical order
	// makes the order of pushing stable.
	err := filepath.WalkDir(root, func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if _, err := os.Stat(filepath.Join(dir, ociLayoutFile)); err != nil {
			return nil
		}
		repository, err := filepath.Rel(root, dir)
		if err != nil {
			return err
		}
		p, err := pushLayout(dir, registry+"/"+filepath.ToSlash(repository), nameOpts, remoteOpts)
		if err != nil {
			return err
		}
		pushed = append(pushed, *p)
		return filepath.SkipDir
	})
	if err != nil {
		return pushed, err
	}
	if len(pushed) == 0 {
		return nil, fmt.Errorf("no OCI layout in %q (make images first)", root)
	}
	return pushed, nil
}

// pushLayout pushes the one index or image of a layout to the repository,
// tagged with the layout's ref.name.
func pushLayout(dir, repository string, nameOpts []name.Option, remoteOpts []remote.Option) (*Pushed, error) {
	path, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %q: %w", dir, err)
	}
	idx, err := path.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("OCI layout %q: %w", dir, err)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("OCI layout %q: %w", dir, err)
	}
	if len(manifest.Manifests) != 1 {
		return nil, fmt.Errorf("OCI layout %q holds %d entries; a build writes one per layout", dir, len(manifest.Manifests))
	}
	desc := manifest.Manifests[0]
	tag := desc.Annotations[refNameAnnotation]
	ref, err := name.NewTag(repository+":"+tag, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %q: reference %q: %w", dir, repository+":"+tag, err)
	}
	switch {
	case desc.MediaType.IsIndex():
		child, err := idx.ImageIndex(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("OCI layout %q: %w", dir, err)
		}
		err = remote.WriteIndex(ref, child, remoteOpts...)
		if err != nil {
			return nil, fmt.Errorf("push %s: %w", ref, err)
		}
	case desc.MediaType.IsImage():
		child, err := idx.Image(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("OCI layout %q: %w", dir, err)
		}
		if err := remote.Write(ref, child, remoteOpts...); err != nil {
			return nil, fmt.Errorf("push %s: %w", ref, err)
		}
	default:
		return nil, fmt.Errorf("OCI layout %q: entry of media type %q is neither an index nor an image", dir, desc.MediaType)
	}
	return &Pushed{Reference: ref.String(), Digest: desc.Digest}, nil
}
