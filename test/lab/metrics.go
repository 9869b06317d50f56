package lab

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// SpeakerMetricsAddr is where each speaker serves its Prometheus metrics,
// on the loopback interface of its node's namespace.
const SpeakerMetricsAddr = "127.0.0.1:7474"

// ControllerMetricsPort is the port of the controller's Prometheus
// metrics, served on the API server's address of the management network.
const ControllerMetricsPort = 7472

// SpeakerMetrics scrapes a node's speaker as Prometheus would (see
// scrapeMetrics) and returns the metrics text. The connection is made
// inside the node's namespace, on the thread that entered it.
func (l *Lab) SpeakerMetrics(n *Node) (string, error) {
	var conn net.Conn
	err := inNetns(n.NS, func() error {
		var err error
		conn, err = net.DialTimeout("tcp", SpeakerMetricsAddr, 5*time.Second)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("metrics of %s: %w", n.Name, err)
	}
	text, err := l.scrapeMetrics(conn)
	if err != nil {
		return "", fmt.Errorf("metrics of %s: %w", n.Name, err)
	}
	return text, nil
}

// ControllerMetrics scrapes the controller as Prometheus would and
// returns the metrics text.
func (l *Lab) ControllerMetrics() (string, error) {
	conn, err := net.DialTimeout("tcp", l.controllerMetricsAddr, 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("metrics of the controller: %w", err)
	}
	text, err := l.scrapeMetrics(conn)
	if err != nil {
		return "", fmt.Errorf("metrics of the controller: %w", err)
	}
	return text, nil
}

// scrapeMetrics asks for /metrics over conn with HTTPS and the token of a
// ServiceAccount bound to the metrics-reader role, and closes conn. The
// request goes over the connection by hand, because an HTTP client would
// dial from another thread, which for a speaker is another namespace.
func (l *Lab) scrapeMetrics(conn net.Conn) (string, error) {
	// The certificate is the self-signed one the daemon makes at start;
	// what the lab checks is that the token is asked for and honoured.
	tlsConn := tls.Client(conn, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // lab-only scrape of a self-signed endpoint
	defer tlsConn.Close()
	_ = tlsConn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(tlsConn, "GET /metrics HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", conn.RemoteAddr(), l.scraperToken); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(tlsConn), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("HTTP %s", resp.Status)
	}
	if err != nil {
		return "", err
	}
	return string(body), nil
}

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
