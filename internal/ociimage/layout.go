package ociimage

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Annotations of an entry of a layout's index.json: the tag (the OCI
// image layout's own key, which skopeo and "ctr import" read) and the
// full image name (which "ctr import" and "docker load" name the image
// after).
const (
	refNameAnnotation    = "org.opencontainers.image.ref.name"
	imageNameAnnotation  = "io.containerd.image.name"
	ociLayoutFile        = "oci-layout"
	archiveDirPermission = 0o755
)

// writeLayout writes one image or index as an OCI image layout in dir,
// which must not exist yet. fullName may be empty.
func writeLayout(dir string, item mutate.Appendable, tag, fullName string) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("OCI layout %q: %w", dir, err)
	}
	annotations := map[string]string{refNameAnnotation: tag}
	if fullName != "" {
		annotations[imageNameAnnotation] = fullName
	}
	switch v := item.(type) {
	case v1.ImageIndex:
		err = p.AppendIndex(v, layout.WithAnnotations(annotations))
	case v1.Image:
		err = p.AppendImage(v, layout.WithAnnotations(annotations))
	default:
		err = fmt.Errorf("%T is neither an image nor an index", item)
	}
	if err != nil {
		return fmt.Errorf("OCI layout %q: %w", dir, err)
	}
	return nil
}

// archiveDir writes the folder as a tar file (an OCI archive, when the
// folder is an OCI layout), with sorted entries, root as every file's
// owner and modTime as every time, so that equal folders give equal
// archives.
func archiveDir(dir, file string, modTime time.Time) (err error) {
	out, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("archive %q: %w", file, err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("archive %q: %w", file, cerr)
		}
	}()
	tw := tar.NewWriter(out)
	// WalkDir visits entries in lexical order, which makes the order
	// reproducible.
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: modTime, Mode: 0o644, Typeflag: tar.TypeReg}
		if d.IsDir() {
			h.Name, h.Mode, h.Typeflag = h.Name+"/", archiveDirPermission, tar.TypeDir
			return tw.WriteHeader(h)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%q is not a regular file", path)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h.Size = info.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("archive %q into %q: %w", dir, file, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("archive %q: %w", file, err)
	}
	return nil
}
