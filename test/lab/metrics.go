package lab

import (
	"fmt"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of a daemon's Prometheus metrics.
type Metrics map[string]*dto.MetricFamily

// ScrapeSpeaker reads a node's speaker metrics.
func (l *Lab) ScrapeSpeaker(n *Node) (Metrics, error) {
	text, err := l.SpeakerMetrics(n)
	if err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("parse metrics of %s: %w", n.Name, err)
	}
	return families, nil
}

// Value returns the value of the series of name whose labels include
// labels (a counter's or gauge's value, a histogram's sample count), and
// whether there is one.
func (m Metrics) Value(name string, labels map[string]string) (float64, bool) {
	f, ok := m[name]
	if !ok {
		return 0, false
	}
series:
	for _, s := range f.GetMetric() {
		for _, l := range s.GetLabel() {
			if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
				continue series
			}
		}
		switch {
		case s.GetCounter() != nil:
			return s.GetCounter().GetValue(), true
		case s.GetGauge() != nil:
			return s.GetGauge().GetValue(), true
		case s.GetHistogram() != nil:
			return float64(s.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// APIWrites adds up the daemon's requests to the API server that change
// something (POST, PUT, PATCH and DELETE), from client-go's own counter.
func (m Metrics) APIWrites() float64 {
	var sum float64
	for _, s := range m["rest_client_requests_total"].GetMetric() {
		for _, l := range s.GetLabel() {
			if l.GetName() == "method" {
				switch l.GetValue() {
				case "POST", "PUT", "PATCH", "DELETE":
					sum += s.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
