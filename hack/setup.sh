#!/usr/bin/env bash
# Installs what bgplb's tests and demo need on a Debian machine, as root:
# Debian packages through apt-get, then kube-apiserver, kubectl and kube-proxy built
# from the Go module proxy and cached under .cache/ (rebuilt only when the
# Kubernetes version changes; a cold build takes about 10-15 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in go make; do
  command -v "$tool" >/dev/null || { echo "setup: $tool is missing; bgplb needs Go 1.26 and make" >&2; exit 1; }
done

need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v ip >/dev/null || need+=(iproute2)
command -v sysctl >/dev/null && command -v pkill >/dev/null || need+=(procps)
[ -x /usr/lib/frr/bgpd ] || need+=(frr)
[ -x /usr/sbin/bird ] || need+=(bird2)
[ -x /usr/bin/gobgpd ] || need+=(gobgpd)
# kube-proxy writes its rules with nft in the lab's default nftables mode,
# and with iptables in its iptables mode.
command -v nft >/dev/null || need+=(nftables)
command -v iptables >/dev/null || need+=(iptables)
# The lab runs bgplb's binaries as an unprivileged user through setpriv.
command -v setpriv >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's packages may start etcd, FRR, BIRD and GoBGP as services; bgplb
# runs its own instances in network namespaces.
for service in etcd frr bird gobgpd; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
done

go mod download
bin=$(hack/build-kube-tools.sh)
echo "setup: kube-apiserver, kubectl and kube-proxy in $bin" >&2
