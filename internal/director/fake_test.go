package director_test

import (
	"testing"

	"github.com/bgplb/bgplb/internal/director"
	"github.com/bgplb/bgplb/internal/director/directortest"
)

func TestFakeConforms(t *testing.T) {
	t.Parallel()
	directortest.Run(t, func(*testing.T) director.Datapath { return director.NewFake() })
}
