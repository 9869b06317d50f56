package version

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterBuildInfo registers the gauge bgplb_build_info, always 1, whose
// labels tell the running build, so that a dashboard shows which version
// runs where and a rollout that stalled half way. docs/metrics.md
// describes it. A registry that already has it (a process that embeds
// both the controller and the speaker) keeps the one it has.
func RegisterBuildInfo(registerer prometheus.Registerer) error {
	info := Get()
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "bgplb_build_info",
		Help: "Always 1; the labels tell the version, source revision and Go version of the running binary.",
		ConstLabels: prometheus.Labels{
			"version":   info.Version,
			"revision":  info.Revision,
			"goversion": info.GoVersion,
		},
	})
	gauge.Set(1)
	if err := registerer.Register(gauge); err != nil {
		if already := (prometheus.AlreadyRegisteredError{}); errors.As(err, &already) {
			return nil
		}
		return fmt.Errorf("register bgplb_build_info: %w", err)
	}
	return nil
}
