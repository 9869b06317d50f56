#!/usr/bin/env bash
# Runs every test of bgplb: unit tests, generated-file checks, CRD
# validation and controller integration tests against a real API server.
#
# Every API server and etcd of this run keeps its files under one fresh
# directory; at the end, whatever still runs from there (left by a test
# binary that timed out or panicked before cleaning up) is killed and the
# directory removed.
set -uo pipefail
cd "$(dirname "$0")/.."

BGPLB_TMPFS=$(mktemp -d /dev/shm/bgplb-test-XXXXXX 2>/dev/null || mktemp -d /tmp/bgplb-test-XXXXXX)
export BGPLB_TMPFS
trap 'pkill -KILL -f -- "$BGPLB_TMPFS/" 2>/dev/null; rm -rf "$BGPLB_TMPFS"' EXIT
go test -count=1 -timeout "${BGPLB_TEST_TIMEOUT:-40m}" "$@" ./...
