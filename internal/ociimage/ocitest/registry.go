// Package ocitest checks the images and the chart that ociimage builds as
// a user of a registry sees them: pushed to an in-process registry and
// pulled back over HTTP. The unit tests of ociimage and the end-to-end
// test of the images share it.
package ocitest

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// StartRegistry serves an empty in-memory OCI registry on the loopback
// until the test ends and returns its host:port. go-containerregistry and
// Helm both speak plain HTTP to a loopback registry.
func StartRegistry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
