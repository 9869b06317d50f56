# bgplb build and test entry points. Tools and binaries are cached under
# .cache/ (git-ignored).
SHELL := /bin/bash
CACHE := $(CURDIR)/.cache
BIN := $(CACHE)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
GO_PACKAGES := ./...

.PHONY: all build generate verify-generated test test-unit test-integration bench demo setup clean

all: build

$(CONTROLLER_GEN): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen

## generate: deep-copy code and CRD/RBAC manifests from the API types
generate: $(CONTROLLER_GEN)
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd
	$(CONTROLLER_GEN) rbac:roleName=bgplb-controller paths=./internal/k8s/controller/... output:rbac:artifacts:config=config/rbac/controller
	$(CONTROLLER_GEN) rbac:roleName=bgplb-speaker paths=./internal/k8s/speaker/... output:rbac:artifacts:config=config/rbac/speaker

## build: the controller (and later the speaker) into .cache/bin
build:
	go build -o $(BIN)/ ./cmd/...

## setup: install system packages and build the cached API server for tests
setup:
	hack/setup.sh

## test: every test, including integration tests against a real API server
test: setup
	hack/test.sh

## bench: Go benchmarks of the pure packages, then the lab's announce benchmark (root)
bench: setup build
	go test -run '^$$' -bench . -benchmem ./internal/ipam/ ./internal/announce/
	go run ./test/bench -bin $(BIN)

## demo: a local API server with the controller, and a Service getting an address
demo: setup build
	go run ./hack/demo

clean:
	rm -rf $(CACHE)
