package gobgp

import (
	"testing"

	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/bgp/bgptest"
)

// TestConformance runs the engine without a router: its sessions never
// come up, so it runs in a second or two.
func TestConformance(t *testing.T) {
	bgptest.Run(t, func(t *testing.T) bgp.Engine {
		e, _ := newEngine(t)
		return e
	})
}
