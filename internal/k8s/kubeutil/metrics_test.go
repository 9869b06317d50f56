package kubeutil_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/rest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
	"github.com/bgplb/bgplb/internal/k8s/testenv"
	"github.com/bgplb/bgplb/internal/testpoll"
)

// env is the API server that authenticates and authorizes scrapers.
var env *testenv.Env

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	var err error
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop API server:", err)
	}
	os.Exit(code)
}

// The identities of the tests: the components as the chart runs them, and
// a Prometheus bound to the metrics-reader ClusterRole.
const (
	systemNamespace     = "bgplb-system"
	monitoringNamespace = "monitoring"
)

// startManager runs a controller-runtime manager, as the controller and
// the speaker build theirs, that serves metrics as m says on a free port
// of 127.0.0.1 and talks to the API server with cfg. It returns the
// address once the port accepts connections; the manager stops at the end
// of the test.
func startManager(t *testing.T, cfg *rest.Config, m kubeutil.MetricsServing) string {
	t.Helper()
	port, err := testenv.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	m.Addr = net.JoinHostPort("127.0.0.1", port)
	metricsServer, err := m.ServerOptions()
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := kubeutil.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := manager.New(cfg, manager.Options{Scheme: scheme, Metrics: metricsServer, HealthProbeBindAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	url, client := "https://"+m.Addr+"/metrics", tlsClient(nil)
	if m.Insecure {
		url = "http://" + m.Addr + "/metrics"
	}
	testpoll.Until(t, 20*time.Second, "the metrics server answers on "+m.Addr, func() (bool, string) {
		select {
		case err := <-done:
			t.Fatalf("manager ended before serving metrics: %v", err)
		default:
		}
		// Any answer, even a refusal, means the server is up.
		resp, err := client.Get(url)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return true, ""
	})
	return m.Addr
}

// scrape gets url with the bearer token, if any, and returns the status
// code, the content type and the body.
func scrape(t *testing.T, client *http.Client, url, token string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

// tlsClient trusts roots, or any certificate when roots is nil, as a
// Prometheus with insecureSkipVerify does.
func tlsClient(roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, InsecureSkipVerify: roots == nil},
	}}
}

// requirePrometheusText fails unless body is the Prometheus text format
// with at least one metric family.
func requirePrometheusText(t *testing.T, contentType, body string) {
	t.Helper()
	if !strings.HasPrefix(contentType, "text/plain") {
		t.Errorf("content type %q, want the Prometheus text format (text/plain)", contentType)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("body is not the Prometheus text format: %v\n%.500s", err, body)
	}
	if len(families) == 0 {
		t.Fatalf("no metric families in the body:\n%.500s", body)
	}
}

// TestSecureMetricsServeOnlyTokensAllowedToGetThem runs a manager with
// each component's own identity and role, as the chart installs them, and
// scrapes it without a token, with a token bound to the metrics-reader
// ClusterRole, and with the other component's token, which has a role but
// not that one.
func TestSecureMetricsServeOnlyTokensAllowedToGetThem(t *testing.T) {
	ctx := context.Background()
	reader, err := env.ServiceAccountToken(ctx, monitoringNamespace, "prometheus", "config/rbac/metrics-reader.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for _, component := range []string{"controller", "speaker"} {
		if tokens[component], err = env.ServiceAccountToken(ctx, systemNamespace, "bgplb-"+component, "config/rbac/"+component+"/role.yaml"); err != nil {
			t.Fatal(err)
		}
	}
	for component, other := range map[string]string{"controller": "speaker", "speaker": "controller"} {
		t.Run(component, func(t *testing.T) {
			// The component checks scrapers' tokens with its own
			// identity: its role must let it ask the API server.
			addr := startManager(t, env.ConfigWithToken(tokens[component]), kubeutil.MetricsServing{})
			url := "https://" + addr + "/metrics"
			client := tlsClient(nil)

			if code, _, body := scrape(t, client, url, ""); code != http.StatusUnauthorized {
				t.Errorf("anonymous scrape: status %d, want %d (401)\n%.300s", code, http.StatusUnauthorized, body)
			}
			// The API server reports an unknown token as an error of the
			// TokenReview, which controller-runtime's filter answers with
			// 500 rather than 401; either way nothing is served.
			if code, _, body := scrape(t, client, url, "not-a-token"); code < 400 {
				t.Errorf("scrape with an invalid token: status %d, want a refusal\n%.300s", code, body)
			}
			if code, _, body := scrape(t, client, url, tokens[other]); code != http.StatusForbidden {
				t.Errorf("scrape with the %s's token: status %d, want %d (403)\n%.300s", other, code, http.StatusForbidden, body)
			}
			code, contentType, body := scrape(t, client, url, reader)
			if code != http.StatusOK {
				t.Fatalf("scrape with a metrics-reader token: status %d, want 200\n%.300s", code, body)
			}
			requirePrometheusText(t, contentType, body)

			// Plain HTTP is not served on the secure port.
			if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/metrics"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Errorf("plain HTTP scrape of the secure endpoint: status 200")
				}
			}
		})
	}
}

// TestInsecureMetricsServePlainHTTPToAnyone checks what
// --metrics-secure=false asks for.
func TestInsecureMetricsServePlainHTTPToAnyone(t *testing.T) {
	addr := startManager(t, env.Config, kubeutil.MetricsServing{Insecure: true})
	code, contentType, body := scrape(t, &http.Client{Timeout: 30 * time.Second}, "http://"+addr+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("anonymous plain HTTP scrape: status %d, want 200\n%.300s", code, body)
	}
	requirePrometheusText(t, contentType, body)
}

// TestMetricsServeTheCertificateOfCertDir checks that a scraper can verify
// the endpoint against the CA of a certificate given in CertDir, as
// --metrics-cert-dir with a mounted kubernetes.io/tls Secret provides it.
func TestMetricsServeTheCertificateOfCertDir(t *testing.T) {
	dir := t.TempDir()
	certPEM := writeCertificate(t, dir)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(certPEM) {
		t.Fatal("test certificate does not parse")
	}
	reader, err := env.ServiceAccountToken(context.Background(), monitoringNamespace, "prometheus", "config/rbac/metrics-reader.yaml")
	if err != nil {
		t.Fatal(err)
	}
	addr := startManager(t, env.Config, kubeutil.MetricsServing{CertDir: dir})
	// Verification fails unless the server presents this very certificate.
	code, contentType, body := scrape(t, tlsClient(roots), "https://"+addr+"/metrics", reader)
	if code != http.StatusOK {
		t.Fatalf("scrape verifying the certificate of the cert dir: status %d\n%.300s", code, body)
	}
	requirePrometheusText(t, contentType, body)
}

// writeCertificate writes a self-signed serving certificate for 127.0.0.1
// and its key into dir under the names a kubernetes.io/tls Secret uses, and
// returns the certificate.
func writeCertificate(t *testing.T, dir string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bgplb-metrics-test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(filepath.Join(dir, kubeutil.MetricsCertName), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, kubeutil.MetricsKeyName), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(certPEM)
}

// TestCertDirWithoutCertificateOrKeyIsRefused checks that a cert dir that
// lacks a file is an error naming the missing file's path, not a silent
// fallback to a self-signed certificate.
func TestCertDirWithoutCertificateOrKeyIsRefused(t *testing.T) {
	for _, missing := range []string{kubeutil.MetricsCertName, kubeutil.MetricsKeyName} {
		t.Run(missing, func(t *testing.T) {
			dir := t.TempDir()
			writeCertificate(t, dir)
			path := filepath.Join(dir, missing)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			_, err := kubeutil.MetricsServing{Addr: ":0", CertDir: dir}.ServerOptions()
			if err == nil {
				t.Fatalf("no error for a cert dir without %s", missing)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", path)) {
				t.Errorf("error %q does not quote the missing file %q", err, path)
			}
			if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("error %q does not wrap the file system's not-exist error", err)
			}
		})
	}
	// Plain HTTP needs no certificate, so an empty cert dir is no error.
	if _, err := (kubeutil.MetricsServing{Addr: ":0", Insecure: true, CertDir: t.TempDir()}).ServerOptions(); err != nil {
		t.Errorf("insecure serving with an empty cert dir: %v", err)
	}
}
