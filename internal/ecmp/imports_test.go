package ecmp

import (
	"testing"

	"github.com/bgplb/bgplb/internal/importcheck"
)

// TestImportsStayPure keeps the package free of Kubernetes and GoBGP: it
// works on plain Go values and is tested without either.
func TestImportsStayPure(t *testing.T) {
	t.Parallel()
	importcheck.NoKubernetesOrGoBGP(t, "github.com/bgplb/bgplb/internal/ecmp")
}
