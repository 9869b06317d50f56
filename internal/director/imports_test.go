package director

import (
	"testing"

	"github.com/bgplb/bgplb/internal/importcheck"
)

// TestImportsStayPure keeps the package free of Kubernetes and GoBGP: the
// speaker hands it plain values.
func TestImportsStayPure(t *testing.T) {
	t.Parallel()
	importcheck.NoKubernetesOrGoBGP(t, "github.com/bgplb/bgplb/internal/director")
}
