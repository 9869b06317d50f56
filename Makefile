# bgplb build and test entry points. Tools and binaries are cached under
# .cache/ (git-ignored).
SHELL := /bin/bash
CACHE := $(CURDIR)/.cache
BIN := $(CACHE)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
GO_PACKAGES := ./...

# The version stamped into every binary and image (internal/version).
VERSION ?= $(shell git describe --tags --always --dirty)
REVISION ?= $(shell git rev-parse HEAD)
VERSION_LDFLAGS := -X github.com/bgplb/bgplb/internal/version.version=$(VERSION) -X github.com/bgplb/bgplb/internal/version.revision=$(REVISION)

# Images: every timestamp in them is the commit's time, so one commit
# always gives the same digests.
IMAGES := $(CACHE)/images
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct)
# Where make push sends the images and the chart (host/path). No default:
# nothing is pushed anywhere unless asked.
REGISTRY ?=
# The registry the images are named after inside their archives (what a
# container runtime calls an imported image): the one pushed to, else the
# chart's default.
IMAGE_REGISTRY := $(or $(REGISTRY),ghcr.io/bgplb)

.PHONY: all build images push generate bpf test bench disruption-report director-cost demo lab lab-down setup clean

# Options of make lab.
NODES ?= 3
ROUTER ?= frr
NEIGHBOURS ?= dynamic
IPV6 ?= true

all: build

$(CONTROLLER_GEN): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen

## generate: deep-copy code, CRD/RBAC manifests, the chart's CRDs and its renderings
generate: $(CONTROLLER_GEN)
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd
	$(CONTROLLER_GEN) rbac:roleName=bgplb-controller paths=./internal/k8s/controller/... output:rbac:artifacts:config=config/rbac/controller
	$(CONTROLLER_GEN) rbac:roleName=bgplb-speaker paths=./internal/k8s/speaker/... output:rbac:artifacts:config=config/rbac/speaker
	rm -f charts/bgplb/crds/*.yaml && cp config/crd/bgplb.io_*.yaml charts/bgplb/crds/
	go test ./charts -run 'Golden|Deploy' -update

## bpf: the director's eBPF object and its Go bindings in internal/datapath, from bpf/director.c (installs clang and llvm with apt-get if missing)
bpf:
	@if ! command -v clang >/dev/null || ! command -v llvm-strip >/dev/null; then \
		echo "bpf: installing clang llvm" >&2; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends clang llvm >/dev/null; \
	fi
	go generate ./internal/datapath/

## build: the controller, the speaker and the lab command into .cache/bin
build:
	go build -ldflags "$(VERSION_LDFLAGS)" -o $(BIN)/ ./cmd/...

## images: controller, speaker and bgplbctl images for linux/amd64 and arm64, and the packaged chart, into .cache/images (no Docker)
images:
	go run ./hack/images build -out $(IMAGES) -version $(VERSION) -revision $(REVISION) \
		-source-date-epoch $(SOURCE_DATE_EPOCH) -image-registry $(IMAGE_REGISTRY)

## push: the images and the chart to an OCI registry: make push REGISTRY=host/path
push: images
	@if [ -z "$(REGISTRY)" ]; then echo "make push needs REGISTRY=host/path" >&2; exit 2; fi
	go run ./hack/images push -out $(IMAGES) -registry $(REGISTRY)

## setup: install system packages and build the cached API server for tests
setup:
	hack/setup.sh

## test: every test, including integration tests against a real API server
test: setup
	hack/test.sh

## bench: Go benchmarks of the pure packages, then the lab's benchmarks: announce, API writes, disruption, director cost (root)
bench: setup build
	go test -run '^$$' -bench . -benchmem ./internal/ipam/ ./internal/announce/
	go run ./test/bench -bin $(BIN)

## disruption-report: broken connections per event, mitigation and router hashing mode, as a table and a chart in docs/disruption (root)
disruption-report: setup build
	go run ./test/bench -bin $(BIN) -latency-services 0 -bulk "" -writes-services 0 -cost-conns 0 -disruption-hashing hash-threshold,resilient -disruption-out docs/disruption

## director-cost: the director's cost alone: latency, connection rate, bulk throughput and CPU, off and on (root)
director-cost: setup build
	go run ./test/bench -bin $(BIN) -latency-services 0 -bulk "" -writes-services 0 -disruption-conns 0

## lab: a running lab (router, nodes with speakers, client, API server, controller) and its summary; ROUTER=frr|bird|gobgp NEIGHBOURS=dynamic|static
lab: setup build
	$(BIN)/bgplb-lab up -nodes $(NODES) -router $(ROUTER) -neighbours $(NEIGHBOURS) -ipv6=$(IPV6)

## lab-down: remove every namespace, link, process and file of the lab
lab-down:
	@if [ -x $(BIN)/bgplb-lab ]; then $(BIN)/bgplb-lab down; else go run ./cmd/bgplb-lab down; fi

## demo: a local API server with the controller, and a Service getting an address
demo: setup build
	go run ./hack/demo

clean:
	rm -rf $(CACHE)
