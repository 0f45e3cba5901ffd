#!/usr/bin/env bash
# lab-topology.sh: the dual-NIC sensor lab in three network namespaces.
#
#   PREFIX-wan (WAN peer, "attacker")   PREFIX-gw (sensor/gateway)            PREFIX-lan (LAN peer, "client")
#   eth0 198.51.100.10/24  <--veth-->   wan0 198.51.100.1/24
#        2001:db8:100::10/64                 2001:db8:100::1/64
#                                       lan0 192.0.2.1/24        <--veth-->   eth0 192.0.2.10/24
#                                            2001:db8:200::1/64                    2001:db8:200::10/64
#
# The peers route everything (IPv4 and IPv6) through the gateway, which forwards.
# DAD and router solicitations are off, every neighbour entry is permanent (no
# ARP/NDP during tests), and GRO/GSO/TSO/LRO are off so that the sensor sees
# wire-sized packets. The same addresses are used by the Vagrant lab.
#
# Usage: lab-topology.sh up PREFIX | down PREFIX | status PREFIX
#   up      creates the three namespaces; fails if any of them already exists
#   down    removes them (ending any process still inside); safe to call twice
#   status  shows links, addresses and routes; exit 1 unless all three exist
set -euo pipefail

PROG=$(basename "$0")

# shellcheck source=SCRIPTDIR/lab-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/lab-env.sh"  # the lab's addresses

die() {
  echo "$PROG: $*" >&2
  exit 1
}

usage() {
  echo "usage: $PROG up PREFIX | down PREFIX | status PREFIX" >&2
  exit 2
}

ns_exists() {
  [[ -e "/run/netns/$1" ]]
}

# Runs a command in namespace $1, naming the step in the error message.
in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@" || die "in namespace $ns: '$*' failed"
}

sysctl_ns() {
  in_ns "$1" sysctl -qw "$2"
}

check_prefix() {
  local prefix=$1
  [[ "$prefix" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$ ]] ||
    die "invalid PREFIX \"$prefix\": 1 to 32 characters from [A-Za-z0-9_.-], starting with a letter or digit"
}

check_tools() {
  local tool
  for tool in ip ethtool sysctl; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (install iproute2, ethtool, procps)"
  done
  [[ $EUID -eq 0 ]] || die "must run as root (network namespaces)"
}

# Namespace-wide settings, applied before any interface exists so that the
# per-interface "default" copies inherit them.
setup_ns() {
  local ns=$1 forward=$2
  ip netns add "$ns" || die "cannot create namespace $ns"
  in_ns "$ns" ip link set dev lo up
  local scope
  for scope in all default; do
    sysctl_ns "$ns" "net.ipv6.conf.$scope.disable_ipv6=0"
    sysctl_ns "$ns" "net.ipv6.conf.$scope.accept_dad=0"
    sysctl_ns "$ns" "net.ipv6.conf.$scope.router_solicitations=0"
    sysctl_ns "$ns" "net.ipv6.conf.$scope.accept_ra=0"
  done
  sysctl_ns "$ns" net.ipv4.ip_forward="$forward"
  sysctl_ns "$ns" net.ipv6.conf.all.forwarding="$forward"
}

# Turns off GRO/GSO/TSO/LRO on one interface; a feature the driver fixes
# (cannot change) is left as it is.
offloads_off() {
  local ns=$1 dev=$2 short long features
  features=$(in_ns "$ns" ethtool -k "$dev")
  for short in gro gso tso lro; do
    case $short in
      gro) long=generic-receive-offload ;;
      gso) long=generic-segmentation-offload ;;
      tso) long=tcp-segmentation-offload ;;
      lro) long=large-receive-offload ;;
    esac
    if grep -Eq "^$long: (on|off) \[fixed\]" <<<"$features"; then
      continue
    fi
    grep -q "^$long:" <<<"$features" || continue
    in_ns "$ns" ethtool -K "$dev" "$short" off
  done
}

# Per-interface settings, then addresses (after accept_dad=0) and link up.
setup_if() {
  local ns=$1 dev=$2 mac=$3 addr4=$4 addr6=$5
  in_ns "$ns" ip link set dev "$dev" address "$mac"
  sysctl_ns "$ns" "net.ipv6.conf.$dev.accept_dad=0"
  sysctl_ns "$ns" "net.ipv6.conf.$dev.router_solicitations=0"
  sysctl_ns "$ns" "net.ipv6.conf.$dev.accept_ra=0"
  in_ns "$ns" ip addr add "$addr4/24" dev "$dev"
  in_ns "$ns" ip -6 addr add "$addr6/64" dev "$dev" nodad
  offloads_off "$ns" "$dev"
  in_ns "$ns" ip link set dev "$dev" up
}

neigh() {
  local ns=$1 dev=$2 addr=$3 mac=$4
  in_ns "$ns" ip neigh replace "$addr" lladdr "$mac" dev "$dev" nud permanent
}

cmd_up() {
  local p=$1 ns
  for ns in "$p-wan" "$p-gw" "$p-lan"; do
    ! ns_exists "$ns" || die "namespace $ns already exists: run '$PROG down $p' first"
  done
  # Whatever fails from here on, leave nothing half-built behind.
  trap 'echo "$PROG: up $p failed; removing what was created" >&2; remove_all "$p"' EXIT

  setup_ns "$p-wan" 0
  setup_ns "$p-gw" 1
  setup_ns "$p-lan" 0

  ip link add wan0 netns "$p-gw" type veth peer name eth0 netns "$p-wan" ||
    die "cannot create veth pair $p-gw/wan0 <-> $p-wan/eth0"
  ip link add lan0 netns "$p-gw" type veth peer name eth0 netns "$p-lan" ||
    die "cannot create veth pair $p-gw/lan0 <-> $p-lan/eth0"

  setup_if "$p-gw" wan0 "$MAC_GW_WAN" "$WAN4_GW" "$WAN6_GW"
  setup_if "$p-wan" eth0 "$MAC_PEER_WAN" "$WAN4_PEER" "$WAN6_PEER"
  setup_if "$p-gw" lan0 "$MAC_GW_LAN" "$LAN4_GW" "$LAN6_GW"
  setup_if "$p-lan" eth0 "$MAC_PEER_LAN" "$LAN4_PEER" "$LAN6_PEER"

  neigh "$p-gw" wan0 "$WAN4_PEER" "$MAC_PEER_WAN"
  neigh "$p-gw" wan0 "$WAN6_PEER" "$MAC_PEER_WAN"
  neigh "$p-gw" lan0 "$LAN4_PEER" "$MAC_PEER_LAN"
  neigh "$p-gw" lan0 "$LAN6_PEER" "$MAC_PEER_LAN"
  neigh "$p-wan" eth0 "$WAN4_GW" "$MAC_GW_WAN"
  neigh "$p-wan" eth0 "$WAN6_GW" "$MAC_GW_WAN"
  neigh "$p-lan" eth0 "$LAN4_GW" "$MAC_GW_LAN"
  neigh "$p-lan" eth0 "$LAN6_GW" "$MAC_GW_LAN"

  in_ns "$p-wan" ip route add default via "$WAN4_GW" dev eth0
  in_ns "$p-wan" ip -6 route add default via "$WAN6_GW" dev eth0
  in_ns "$p-lan" ip route add default via "$LAN4_GW" dev eth0
  in_ns "$p-lan" ip -6 route add default via "$LAN6_GW" dev eth0

  trap - EXIT
  echo "$PROG: up: $p-wan (eth0 $WAN4_PEER $WAN6_PEER) <-> $p-gw (wan0 $WAN4_GW, lan0 $LAN4_GW) <-> $p-lan (eth0 $LAN4_PEER $LAN6_PEER)"
}

# Ends the processes still inside namespace $1 (started there by whoever used
# the lab), so that deleting it really frees its interfaces.
end_processes() {
  local ns=$1 pids pid i
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [[ -n "$pids" ]] || return 0
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
  for ((i = 0; i < 30; i++)); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -n "$pids" ]] || return 0
    sleep 0.1
  done
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
}

remove_all() {
  local p=$1 ns rc=0
  for ns in "$p-wan" "$p-gw" "$p-lan"; do
    ns_exists "$ns" || continue
    end_processes "$ns"
    ip netns del "$ns" || { echo "$PROG: cannot delete namespace $ns" >&2; rc=1; }
  done
  return "$rc"
}

cmd_down() {
  local p=$1
  remove_all "$p" || die "down $p: some namespaces could not be removed"
}

cmd_status() {
  local p=$1 ns missing=0
  for ns in "$p-wan" "$p-gw" "$p-lan"; do
    if ! ns_exists "$ns"; then
      echo "$ns: absent"
      missing=1
      continue
    fi
    echo "== $ns"
    ip -n "$ns" -br link show
    ip -n "$ns" -br addr show
    ip -n "$ns" route show
    ip -n "$ns" -6 route show
  done
  return "$missing"
}

[[ $# -eq 2 ]] || usage
action=$1
prefix=$2
check_prefix "$prefix"
case $action in
  up)
    check_tools
    cmd_up "$prefix"
    ;;
  down)
    check_tools
    cmd_down "$prefix"
    ;;
  status) cmd_status "$prefix" ;;
  *) usage ;;
esac
