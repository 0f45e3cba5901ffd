# shellcheck shell=bash disable=SC2034
# (SC2034: the LAB_* values are used by the scripts that source this file.)
# provision-common.sh: what the VMs' provisioning scripts share (sourced, never run).
#
# The lab's networks and addresses: the same as scripts/lab-env.sh (the namespace lab).
LAB_WAN_NET=198.51.100.0/24
LAB_LAN_NET=192.0.2.0/24
LAB_DEFENDER_WAN=198.51.100.1
LAB_DEFENDER_LAN=192.0.2.1
LAB_ATTACKER=198.51.100.10
LAB_CLIENT=192.0.2.10
LAB_DEFENDER_WAN6=2001:db8:100::1
LAB_DEFENDER_LAN6=2001:db8:200::1
LAB_ATTACKER6=2001:db8:100::10
LAB_CLIENT6=2001:db8:200::10
LAB_WAN6_NET=2001:db8:100::/64
LAB_LAN6_NET=2001:db8:200::/64
# The lab NICs' MAC addresses, set by the Vagrantfile (the same as scripts/lab-env.sh).
# The NICs are still found by their network; the MACs serve the permanent neighbour entries.
LAB_MAC_DEFENDER_WAN=02:53:00:64:00:01
LAB_MAC_ATTACKER=02:53:00:64:00:10
LAB_MAC_DEFENDER_LAN=02:53:00:02:00:01
LAB_MAC_CLIENT=02:53:00:02:00:10

log() {
  echo "${PROVISION_NAME:-provision}: $*"
}

die() {
  echo "${PROVISION_NAME:-provision}: $*" >&2
  exit 1
}

# install_packages PKG...: apt-get installs the ones that are missing.
install_packages() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# nic_by_net CIDR: the one interface with an IPv4 address in CIDR (never a guessed name:
# VirtualBox and udev do not promise an order).
nic_by_net() {
  local net=$1 names
  names=$(ip -o -4 addr show to "$net" | awk '{print $2}' | sort -u)
  [[ -n $names ]] || die "no interface has an address in $net (did Vagrant configure the private network?)"
  [[ $(wc -l <<<"$names") -eq 1 ]] || die "several interfaces in $net: $(tr '\n' ' ' <<<"$names")"
  echo "$names"
}

# offloads_off DEV: GRO/GSO/TSO/LRO off, so the NIC's packet counters count wire packets
# (the throughput scenario compares them with the sensor's records).
offloads_off() {
  local dev=$1 feature
  for feature in gro gso tso lro; do
    ethtool -K "$dev" "$feature" off 2>/dev/null || true # a feature the driver fixes stays
  done
}

# neighbour DEV ADDR MAC: a permanent neighbour entry, as in the namespace lab: no ARP or
# neighbour discovery on the monitored links during a scenario (they would be records too).
neighbour() {
  ip neigh replace "$2" lladdr "$3" dev "$1" nud permanent
}

# ipv6_addr DEV ADDR/LEN: adds the lab's IPv6 address (not kept across reboots: the
# provisioning that adds it runs on every "vagrant up" and "vagrant reload").
ipv6_addr() {
  sysctl -qw "net.ipv6.conf.$1.accept_dad=0"
  ip -6 addr replace "$2" dev "$1" nodad
}
