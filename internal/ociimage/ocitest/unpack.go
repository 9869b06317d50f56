package ocitest

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Unpack writes the image's flattened filesystem (directories and
// regular files, with their modes) under dir, as a container runtime
// would before starting it.
func Unpack(t testing.TB, img v1.Image, dir string) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("unpack: %v", err)
		}
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		if rel, err := filepath.Rel(dir, target); err != nil || strings.HasPrefix(rel, "..") {
			t.Fatalf("unpack: entry %q leaves the target folder", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatalf("unpack %q: %v", h.Name, err)
			}
			if err := os.Chmod(target, h.FileInfo().Mode()); err != nil {
				t.Fatalf("unpack %q: %v", h.Name, err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				t.Fatalf("unpack %q: %v", h.Name, err)
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, h.FileInfo().Mode().Perm())
			if err != nil {
				t.Fatalf("unpack %q: %v", h.Name, err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatalf("unpack %q: %v", h.Name, err)
			}
		default:
			t.Fatalf("unpack: entry %q of type %q; the images hold only folders and files", h.Name, h.Typeflag)
		}
	}
}
