#!/usr/bin/env bash
# Builds kube-apiserver and kubectl from the Go module proxy at the Kubernetes
# release that matches our client-go, and caches them under .cache/kube/<version>.
# A second run with the same version does nothing.
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
# Binaries that report their release are done; older builds reported
# none, which made Helm and the discovery API see a v0.0.0 cluster.
built() {
  [ -x "$1/kube-apiserver" ] && [ -x "$1/kubectl" ] &&
    [ "$("$1/kube-apiserver" --version 2>/dev/null)" = "Kubernetes $version" ]
}
if built "$bin"; then
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
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
# Samples are not published as modules; drop them from the replace list.
sed -i '/sample-cli-plugin\|sample-controller/d' go.mod
go mod tidy -e >&2 || true
# Build into a private folder and move it into place, so that two setups
# running at once never see a half-written binary.
mkdir -p "$(dirname "$bin")"
out=$(mktemp -d "$bin.tmp.XXXXXX")
# The release's own build stamps its version into component-base; a module
# build must do the same, or the API server reports v0.0.0.
minor=${version#v1.}
minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/kubectl" k8s.io/kubernetes/cmd/kubectl >&2
chmod 755 "$out"
if built "$bin"; then
  rm -rf "$out"   # another setup finished first
else
  rm -rf "$bin"
  mv "$out" "$bin"
fi
echo "$bin"
