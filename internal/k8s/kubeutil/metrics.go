package kubeutil

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/bgplb/bgplb/internal/version"
)

// Names of the serving certificate and key in MetricsServing.CertDir, as a
// kubernetes.io/tls Secret mounted as a volume provides them.
const (
	MetricsCertName = "tls.crt"
	MetricsKeyName  = "tls.key"
)

// MetricsServing says where and how a manager serves its metrics. Its zero
// value serves none.
type MetricsServing struct {
	// Addr is the listen address; empty or "0" turns the server off.
	Addr string
	// Insecure serves plain HTTP to anyone who reaches Addr. Otherwise
	// metrics are served over HTTPS, only to clients whose bearer token the
	// API server accepts (TokenReview) and allows to get the /metrics path
	// (SubjectAccessReview).
	Insecure bool
	// CertDir holds the serving certificate and key as MetricsCertName and
	// MetricsKeyName; empty means a self-signed certificate generated at
	// start.
	CertDir string
}

// Secure tells whether metrics are served at all, and only to scrapers the
// API server authenticates and authorizes: the component then needs to
// create TokenReviews and SubjectAccessReviews.
func (m MetricsServing) Secure() bool {
	return !m.Insecure && m.Addr != "" && m.Addr != "0"
}

// ServerOptions returns the options of controller-runtime's metrics server.
// A CertDir without the certificate or the key is an error, not a silent
// fallback to a self-signed certificate.
func (m MetricsServing) ServerOptions() (metricsserver.Options, error) {
	if m.Addr == "" {
		m.Addr = "0"
	}
	opts := metricsserver.Options{BindAddress: m.Addr}
	if m.Insecure || m.Addr == "0" {
		return opts, nil
	}
	opts.SecureServing = true
	opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	// Scrapers need nothing of HTTP/2, and HTTP/2 servers have had
	// stream-reset floods (CVE-2023-44487, CVE-2023-39325) that HTTP/1.1
	// cannot have.
	opts.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	if m.CertDir != "" {
		for _, name := range []string{MetricsCertName, MetricsKeyName} {
			path := filepath.Join(m.CertDir, name)
			if _, err := os.Stat(path); err != nil {
				return metricsserver.Options{}, fmt.Errorf("metrics serving certificate: cannot use %q: %w", path, err)
			}
		}
		opts.CertDir, opts.CertName, opts.KeyName = m.CertDir, MetricsCertName, MetricsKeyName
	}
	return opts, nil
}

// RegisterMetrics registers the collectors of component (the controller or
// the speaker), and bgplb_build_info, in registerer. A collector that the
// registry already holds is an error: each component needs a registry of
// its own.
func RegisterMetrics(registerer prometheus.Registerer, component string, collectors ...prometheus.Collector) error {
	for _, c := range collectors {
		if err := registerer.Register(c); err != nil {
			return fmt.Errorf("register the %s's metrics: %w", component, err)
		}
	}
	return version.RegisterBuildInfo(registerer)
}
