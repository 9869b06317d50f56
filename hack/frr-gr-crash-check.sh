#!/usr/bin/env bash
# Checks whether an FRR release's bgpd crashes when a graceful-restart
# speaker that announces nothing, known to FRR as a dynamic neighbour, dies
# without a NOTIFICATION (docs/routers.md, "Can a speaker hurt the router?").
#
# usage: hack/frr-gr-crash-check.sh [debian12|trixie]
#   debian12  the host's FRR (Debian 12: 8.4.4)
#   trixie    Debian trixie's FRR (10.3), run from a chroot built once and
#             cached under .cache/frr-trixie
# Environment: RUNS (default 3), RESTART_TIME (seconds, default 20),
# FRR_DEBUG (1: log bgpd's neighbour and graceful-restart events; default 1).
#
# Each run builds a fresh lab: a router namespace running zebra and bgpd
# with the lab's FRR config (test/lab/frr.go, dynamic neighbours), and two
# gobgpd speakers on one LAN: "quiet" announces nothing, "busy" announces
# one route. The quiet gobgpd is SIGKILLed; restart-time + 15 s later the
# run reports whether bgpd is alive and the busy session still Established.
# Logs stay under .cache/frr-gr-crash-check/<flavour>/run<N>/.
# Needs root, iproute2, gobgpd/gobgp on the host, and FRR on the host for
# debian12. Namespaces and processes it starts are named/tracked with the
# frrchk- prefix and removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

flavour=${1:-debian12}
runs=${RUNS:-3}
restart_time=${RESTART_TIME:-20}
frr_debug=${FRR_DEBUG:-1}
mirror=http://deb.debian.org/debian
chroot_dir=$repo/.cache/frr-trixie
out_dir=$repo/.cache/frr-gr-crash-check/$flavour

router_ns=frrchk-router
quiet_ns=frrchk-quiet
busy_ns=frrchk-busy
# 198.18.100.0/24 keeps clear of the lab's 198.18.0.0/24.
lan=198.18.100.0/24
router_ip=198.18.100.1
quiet_ip=198.18.100.10
busy_ip=198.18.100.11
busy_route=203.0.113.0/24
# The pathspace keeps our vty sockets and pid files apart from any other
# FRR instance's under /run/frr.
pathspace=frrchk-router
# /run, not /var/run: the chroot's /var/run is an absolute symlink that
# would lead outside it from the host.
run_dir=/run/frr/$pathspace

case $flavour in
debian12) root= ; in_root=() ;;
trixie) root=$chroot_dir ; in_root=(chroot "$chroot_dir") ;;
*) echo "usage: $0 [debian12|trixie]" >&2; exit 2 ;;
esac

[[ $(id -u) == 0 ]] || { echo "needs root (namespaces, chroot)" >&2; exit 1; }
for bin in gobgpd gobgp ip jq; do
	command -v "$bin" >/dev/null || { echo "missing $bin on the host" >&2; exit 1; }
done

# build_chroot makes a minimal trixie with FRR. frr is installed by apt
# inside the chroot rather than with debootstrap --include, whose dpkg run
# fails on systemd's pre-dependency (systemd comes in with frr's
# dependencies).
build_chroot() {
	[[ -x $chroot_dir/usr/lib/frr/bgpd ]] && return
	if ! command -v debootstrap >/dev/null; then
		apt-get update && apt-get install -y debootstrap
	fi
	local tmp=$chroot_dir.tmp
	rm -rf "$tmp"
	mkdir -p "$(dirname "$chroot_dir")"
	debootstrap --variant=minbase trixie "$tmp" "$mirror"
	# No service may start inside the chroot while packages install.
	printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
	chmod +x "$tmp/usr/sbin/policy-rc.d"
	chroot "$tmp" apt-get update
	chroot "$tmp" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends frr iproute2
	chroot "$tmp" apt-get clean
	rm -rf "$tmp"/var/lib/apt/lists/*
	mv "$tmp" "$chroot_dir"
}

gobgpd_pids=()

cleanup() {
	local pid f d ns
	for pid in "${gobgpd_pids[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	gobgpd_pids=()
	for d in bgpd zebra; do
		f=$root$run_dir/$d.pid
		[[ -f $f ]] || continue
		pid=$(<"$f")
		# A crashed bgpd leaves its pid file: kill only a live daemon of ours.
		[[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == "$d" ]] || continue
		kill -TERM "$pid" 2>/dev/null || continue
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	rm -rf "$root$run_dir"
	for ns in "$router_ns" "$quiet_ns" "$busy_ns"; do
		ip netns delete "$ns" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setup_net() {
	ip netns add "$router_ns"
	ip netns add "$quiet_ns"
	ip netns add "$busy_ns"
	ip -n "$router_ns" link set lo up
	ip -n "$router_ns" link add br0 type bridge
	ip -n "$router_ns" addr add "$router_ip/24" dev br0
	ip -n "$router_ns" link set br0 up
	local ns addr port
	for ns in "$quiet_ns:$quiet_ip:q0" "$busy_ns:$busy_ip:b0"; do
		IFS=: read -r ns addr port <<<"$ns"
		ip -n "$router_ns" link add "$port" type veth peer name eth0 netns "$ns"
		ip -n "$router_ns" link set "$port" master br0 up
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "$addr/24" dev eth0
		ip -n "$ns" link set eth0 up
	done
}

# The lab's router config (test/lab/frr.go) with dynamic neighbours.
write_frr_config() {
	local dir=$root$run_dir
	mkdir -p "$dir"
	echo "hostname $router_ns" >"$dir/zebra.conf"
	{
		echo "frr defaults datacenter"
		echo "hostname $router_ns"
		echo "log file $run_dir/frr.log"
		echo "log timestamp precision 6"
		if [[ $frr_debug == 1 ]]; then
			echo "debug bgp neighbor-events"
			echo "debug bgp graceful-restart"
		fi
		cat <<EOF
!
router bgp 64500
 bgp router-id $router_ip
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp bestpath as-path multipath-relax
 neighbor NODES peer-group
 neighbor NODES remote-as 64512
 bgp listen range $lan peer-group NODES
 address-family ipv4 unicast
  maximum-paths 16
  maximum-paths ibgp 16
 exit-address-family
 address-family ipv6 unicast
  neighbor NODES activate
  maximum-paths 16
  maximum-paths ibgp 16
 exit-address-family
!
EOF
	} >"$dir/bgpd.conf"
	# The daemons drop to the frr user (the chroot's own for trixie).
	"${in_root[@]}" chown -R frr:frr "$run_dir"
}

# vtysh's complaint about a missing vtysh.conf for our pathspace is noise.
vtysh() {
	ip netns exec "$router_ns" "${in_root[@]}" vtysh -N "$pathspace" -c "$1" 2>/dev/null
}

# start_frr starts zebra and bgpd; what they print (start-up warnings,
# memory statistics at exit) goes to a file in the run's directory.
start_frr() {
	local dir=$1 d
	for d in zebra bgpd; do
		ip netns exec "$router_ns" "${in_root[@]}" /usr/lib/frr/$d -d -N "$pathspace" \
			-f "$run_dir/$d.conf" -i "$run_dir/$d.pid" >>"$dir/$d.out" 2>&1
	done
	for _ in $(seq 100); do
		vtysh "show bgp summary json" >/dev/null 2>&1 && return
		sleep 0.1
	done
	echo "bgpd did not answer vtysh within 10 s" >&2
	return 1
}

# start_speaker runs a gobgpd peering to the router with graceful restart
# for IPv4 unicast, as bgplb's speaker offers it.
start_speaker() {
	local ns=$1 addr=$2 name=$3 dir=$4
	cat >"$dir/$name.toml" <<EOF
[global.config]
  as = 64512
  router-id = "$addr"

[[neighbors]]
  [neighbors.config]
    neighbor-address = "$router_ip"
    peer-as = 64500
  [neighbors.timers.config]
    connect-retry = 1
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = $restart_time
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
EOF
	# ip netns exec execs gobgpd, so $! is gobgpd itself.
	ip netns exec "$ns" gobgpd -f "$dir/$name.toml" --log-plain >"$dir/$name.log" 2>&1 &
	gobgpd_pids+=($!)
	# Not a job of this shell: no "Killed" report when it is killed.
	disown
}

state_of() {
	vtysh "show bgp neighbors $1 json" 2>/dev/null | jq -r --arg n "$1" '.[$n].bgpState // "absent"' 2>/dev/null || echo "no answer"
}

bgpd_alive() {
	local pid
	pid=$(cat "$root$run_dir/bgpd.pid" 2>/dev/null) || return 1
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == bgpd ]]
}

one_run() {
	local n=$1 dir=$out_dir/run$n
	rm -rf "$dir"
	mkdir -p "$dir"
	setup_net
	write_frr_config
	start_frr "$dir"
	start_speaker "$quiet_ns" "$quiet_ip" quiet "$dir"
	start_speaker "$busy_ns" "$busy_ip" busy "$dir"
	local quiet_pid=${gobgpd_pids[0]}
	for _ in $(seq 60); do
		ip netns exec "$busy_ns" gobgp global rib add -a ipv4 "$busy_route" >/dev/null 2>&1 && break
		sleep 0.5
	done
	local up=
	for _ in $(seq 120); do
		if [[ $(state_of "$quiet_ip") == Established && $(state_of "$busy_ip") == Established ]] &&
			vtysh "show bgp ipv4 unicast $busy_route json" | jq -e '.paths | length > 0' >/dev/null 2>&1; then
			up=1
			break
		fi
		sleep 0.5
	done
	if [[ -z $up ]]; then
		echo "run $n: sessions did not come up (quiet: $(state_of "$quiet_ip"), busy: $(state_of "$busy_ip"))" >&2
		vtysh "show bgp summary" >&2 || true
		return 1
	fi
	vtysh "show bgp neighbors json" >"$dir/neighbors-before.json"
	# Let a few keepalives pass, as in a lab where the node has been up.
	sleep 5
	kill -KILL "$quiet_pid"
	gobgpd_pids=("${gobgpd_pids[@]:1}")
	echo "run $n: both sessions Established; quiet gobgpd SIGKILLed at $(date +%T)"
	sleep 3
	vtysh "show bgp neighbors $quiet_ip json" >"$dir/quiet-after-kill.json" || true
	echo "run $n: 3 s after kill, quiet neighbour: $(jq -c --arg n "$quiet_ip" '.[$n] | {bgpState, lastResetDueTo, gracefulRestartInfo}' "$dir/quiet-after-kill.json" 2>/dev/null || echo "?")"
	sleep $((restart_time + 15 - 3))
	local verdict=crashed busy_state=-
	if bgpd_alive; then
		verdict=alive
		busy_state=$(state_of "$busy_ip")
		vtysh "show bgp neighbors json" >"$dir/neighbors-end.json" || true
		echo "run $n: end, quiet neighbour: $(state_of "$quiet_ip")"
	fi
	cp "$root$run_dir/frr.log" "$dir/frr.log" 2>/dev/null || true
	echo "run $n: bgpd $verdict (busy session: $busy_state)"
	grep -E "Received signal|in thread|ADJCHANGE: neighbor $quiet_ip|$quiet_ip.*(graceful restart timer|dynamic neighbor)" "$dir/frr.log" 2>/dev/null |
		sed "s/^/run $n:   log: /" || true
	results+=("run $n: bgpd $verdict")
	cleanup
}

[[ $flavour == trixie ]] && build_chroot
# No core files from a crashing bgpd in the directory it runs in.
ulimit -c 0
cleanup
mkdir -p "$out_dir"
echo "$flavour: $("${in_root[@]}" /usr/lib/frr/bgpd --version | head -1); $(gobgpd --version)"
results=()
start=$SECONDS
for n in $(seq "$runs"); do
	one_run "$n"
done
echo "== $flavour: ${results[*]} ($((SECONDS - start)) s; logs in $out_dir)"
