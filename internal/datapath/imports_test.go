package datapath

import (
	"testing"

	"github.com/bgplb/bgplb/internal/importcheck"
)

// TestImportsStayFreeOfKubernetes keeps the kernel side independent of
// the API: the speaker hands it plain values.
func TestImportsStayFreeOfKubernetes(t *testing.T) {
	t.Parallel()
	importcheck.NoKubernetesOrGoBGP(t, "github.com/bgplb/bgplb/internal/datapath")
}
