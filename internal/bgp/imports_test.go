package bgp

import (
	"testing"

	"github.com/bgplb/bgplb/internal/importcheck"
)

// TestImportsStayPure keeps the package free of Kubernetes and GoBGP: it
// is tested with plain Go values, and only internal/bgp/gobgp may import
// GoBGP.
func TestImportsStayPure(t *testing.T) {
	t.Parallel()
	importcheck.NoKubernetesOrGoBGP(t, "github.com/bgplb/bgplb/internal/bgp")
}
