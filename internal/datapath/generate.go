//go:build linux

package datapath

// The program is compiled for little-endian BPF, which amd64 and arm64
// both run. Generation also records the checksums of the C sources and the
// compiler that built the object, which the staleness tests compare.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target bpfel director bpf/director.c -- -I bpf -O2 -g -Wall -Werror -mcpu=v3
//go:generate sh -c "cd bpf && sha256sum *.c *.h > sources.sha256 && clang --version | head -n 1 > clang-version"
