#!/usr/bin/env bash
# Runs every test of bgplb: unit tests, generated-file checks, CRD
# validation and controller integration tests against a real API server.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go test -count=1 -timeout 40m ./...
