package owner

import (
	"testing"

	"github.com/bgplb/bgplb/internal/importcheck"
)

// TestImportsStayPure keeps the package on the standard library alone: it
// works on plain Go values, and every node must be able to compute its
// tables with nothing else.
func TestImportsStayPure(t *testing.T) {
	t.Parallel()
	importcheck.NoKubernetesOrGoBGP(t, "github.com/bgplb/bgplb/internal/owner")
	importcheck.OnlyStandardLibrary(t, "github.com/bgplb/bgplb/internal/owner")
}
