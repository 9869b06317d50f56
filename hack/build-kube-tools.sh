#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and kube-proxy from the Go module proxy at
# the Kubernetes release that matches our client-go, and caches them under
# .cache/kube/<version>. A second run with the same version does nothing; a
# cache that lacks a tool (an older checkout's) gets only that one built.
#
# Usage: hack/build-kube-tools.sh [version]   (prints the bin directory)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
version=${1:-}
if [ -z "$version" ]; then
  # client-go v0.X.Y belongs to Kubernetes v1.X.Y.
  cg=$(cd "$root" && go list -m -f '{{.Version}}' k8s.io/client-go)
  version="v1.${cg#v0.}"
fi
bin="$root/.cache/kube/$version"
tools=(kube-apiserver kubectl kube-proxy)
# A tool that reports its release is done; older builds reported none,
# which made Helm and the discovery API see a v0.0.0 cluster. kubectl
# reports its version differently and is only checked for.
current() {
  case "$1" in
    kubectl) [ -x "$bin/kubectl" ] ;;
    *) [ -x "$bin/$1" ] && [ "$("$bin/$1" --version 2>/dev/null)" = "Kubernetes $version" ] ;;
  esac
}
missing=()
for tool in "${tools[@]}"; do
  current "$tool" || missing+=("$tool")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$bin"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# k8s.io/kubernetes points each staging module at a folder of its own tree;
# outside that tree each one must be replaced by its published v0.X.Y module.
gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
staging_version="v0.${version#v1.}"
{
  echo "module bgplb.local/kubetools"
  echo
  echo "go 1.26"
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  echo "replace ("
  sed -n '/^replace (/,/^)/p' "$gomod" | awk '/=> \.\/staging/ {print "\t" $1 " => " $1 " '"$staging_version"'"}'
  echo ")"
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
# Samples are not published as modules; drop them from the replace list.
sed -i '/sample-cli-plugin\|sample-controller/d' go.mod
go mod tidy -e >&2 || true
# The release's own build stamps its version into component-base; a module
# build must do the same, or the API server reports v0.0.0.
minor=${version#v1.}
minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
# Each tool is built into a private file and renamed into place, so that
# two setups running at once never see a half-written binary.
mkdir -p "$bin"
for tool in "${missing[@]}"; do
  echo "build-kube-tools: building $tool $version" >&2
  tmp=$(mktemp "$bin/.$tool.XXXXXX")
  if ! CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp" "k8s.io/kubernetes/cmd/$tool" >&2; then
    rm -f "$tmp"
    exit 1
  fi
  chmod 755 "$tmp"
  mv -f "$tmp" "$bin/$tool"
done
echo "$bin"
