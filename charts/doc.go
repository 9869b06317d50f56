// Package charts holds bgplb's Helm chart (charts/bgplb). Its tests render
// the chart with Helm's own libraries against golden files, keep the chart's
// CRDs and RBAC rules in step with the code, keep deploy/bgplb.yaml in step
// with the chart, and install, upgrade and uninstall it on a real API server.
package charts
