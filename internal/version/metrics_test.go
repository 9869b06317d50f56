package version

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBuildInfoIsOneSeriesLabelledWithTheBuild(t *testing.T) {
	t.Parallel()
	registry := prometheus.NewPedanticRegistry()
	// Twice, as a process embedding both components would.
	for range 2 {
		if err := RegisterBuildInfo(registry); err != nil {
			t.Fatal(err)
		}
	}
	info := Get()
	want := `# HELP bgplb_build_info Always 1; the labels tell the version, source revision and Go version of the running binary.
# TYPE bgplb_build_info gauge
bgplb_build_info{goversion="` + info.GoVersion + `",revision="` + info.Revision + `",version="` + info.Version + `"} 1
`
	if err := testutil.GatherAndCompare(registry, strings.NewReader(want), "bgplb_build_info"); err != nil {
		t.Error(err)
	}
}
