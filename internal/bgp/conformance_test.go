package bgp_test

import (
	"testing"

	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/bgp/bgptest"
)

func TestFakeConformance(t *testing.T) {
	bgptest.Run(t, func(*testing.T) bgp.Engine { return bgp.NewFake() })
}
