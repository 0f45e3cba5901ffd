#!/usr/bin/env bash
# prepare-gateway.sh: prepares the sensor host (the lab's "defender") as a dual-NIC gateway.
#
# The one gateway-preparation script of the lab: the Vagrant provisioning runs it on the
# defender VM (vagrant/provision-defender.sh) and the namespace lab runs it inside the
# sensor namespace (vagrant/netns-lab.sh), so CI exercises the code the VMs run.
#
# The two NICs are found by the network they sit on or by their MAC address, never by a
# guessed name or ifindex (VirtualBox and udev reorder NICs):
#
#   prepare-gateway.sh --wan-net 198.51.100.0/24 --lan-net 192.0.2.0/24 --rename wan0 lan0
#   prepare-gateway.sh --wan-mac 02:53:00:64:00:01 --lan-mac 02:53:00:02:00:01 --print
#
# What it does (idempotent; every step is checked by --check):
#   - IPv4 and IPv6 forwarding on;
#   - rp_filter: net.ipv4.conf.all.rp_filter=0 and the two NICs set to --rp-filter (default
#     2, loose). Asymmetric paths need it: a replayed capture injects packets with WAN source
#     addresses on the LAN side (vagrant/scenarios/gateway.sh), which strict mode drops;
#   - ICMP redirects off on both NICs (all + each NIC): a hairpinned packet would otherwise
#     make the sensor host emit traffic of its own into what it observes;
#   - GRO, LRO, TSO, GSO (and hardware GRO) off on both NICs, so the sensor sees wire-sized
#     packets (features the driver fixes are left as they are);
#   - promiscuous mode on the NICs of the roles given with --promisc (default: lan, the
#     gateway-mode NIC, which also sees LAN-internal frames not addressed to it), off on the
#     other one (the WAN NIC is in host-based mode: the sensor host is an endpoint there);
#   - optionally renames the NICs (--rename WAN LAN), so that config/lab.json (wan0, lan0)
#     applies unchanged. A NIC must be down to be renamed: it is set down and up again, its
#     IPv4 addresses stay (IPv6 addresses other than link-local are lost: add them after).
#
# Options:
#   --wan-net CIDR | --wan-mac MAC    the WAN NIC: the one with an address in CIDR, or this MAC
#   --lan-net CIDR | --lan-mac MAC    the LAN NIC
#   --rename WAN LAN                  rename the NICs (no-op for a NIC that has the name already)
#   --promisc none|lan|wan|both       NICs put in promiscuous mode (default: lan)
#   --rp-filter 0|1|2                 rp_filter of the two NICs (default: 2, loose)
#   --print                           print WAN_IF=NAME and LAN_IF=NAME (shell syntax) at the end
#   --check                           change nothing: report each setting, exit 1 if one differs
#   --dry-run                         print the commands instead of running them
#   -h, --help
#
# Needs root, iproute2, ethtool, procps (sysctl). Exit status: 0 done (or --check: all as
# wanted), 1 a failure (or --check: something differs), 2 usage.
set -euo pipefail

PROG=$(basename "$0")

wan_net="" wan_mac="" lan_net="" lan_mac=""
wan_name="" lan_name=""
promisc=lan
rp_filter=2
print=0 check=0 dry_run=0
differs=0

die() {
  echo "$PROG: $*" >&2
  exit 1
}

usage() {
  sed -n '/^# Options:/,/^# Needs root/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# Runs a command (or prints it with --dry-run), naming it when it fails.
do_cmd() {
  if ((dry_run)); then
    echo "+ $*"
    return 0
  fi
  "$@" || die "'$*' failed"
}

# --check: compares one setting with the wanted value and reports it.
report() {
  local what=$1 want=$2 have=$3
  if [[ "$want" == "$have" ]]; then
    printf '  ok       %-44s %s\n' "$what" "$have"
  else
    printf '  DIFFERS  %-44s %s (want %s)\n' "$what" "$have" "$want"
    differs=1
  fi
}

valid_cidr() {
  [[ "$1" =~ ^[0-9.]+/[0-9]{1,2}$ || "$1" =~ ^[0-9A-Fa-f:]+/[0-9]{1,3}$ ]]
}

valid_mac() {
  [[ "$1" =~ ^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$ ]]
}

# Prints the one interface with an address inside network $1.
iface_by_net() {
  local net=$1 family=-4 names
  [[ "$net" == *:* ]] && family=-6
  names=$(ip -o "$family" addr show to "$net" | awk '{print $2}' | sort -u)
  [[ -n "$names" ]] || die "no interface has an address in $net (ip $family addr show to $net)"
  [[ $(wc -l <<<"$names") -eq 1 ]] || die "several interfaces have an address in $net: $(tr '\n' ' ' <<<"$names")"
  echo "$names"
}

# Prints the one interface whose MAC address is $1.
iface_by_mac() {
  local mac=${1,,} names
  names=$(ip -o link show | awk -v mac="$mac" '
    { for (i = 1; i < NF; i++) if ($i == "link/ether" && tolower($(i + 1)) == mac) { n = $2; sub(/:$/, "", n); sub(/@.*/, "", n); print n } }')
  [[ -n "$names" ]] || die "no interface has MAC address $mac"
  [[ $(wc -l <<<"$names") -eq 1 ]] || die "several interfaces have MAC address $mac: $(tr '\n' ' ' <<<"$names")"
  echo "$names"
}

find_iface() {
  local net=$1 mac=$2
  if [[ -n "$net" ]]; then
    iface_by_net "$net"
  else
    iface_by_mac "$mac"
  fi
}

rename_iface() {
  local old=$1 new=$2 was_up=0
  [[ "$old" == "$new" ]] && return 0
  if ip link show dev "$new" >/dev/null 2>&1; then
    die "cannot rename $old to $new: an interface named $new exists already"
  fi
  ip -o link show dev "$old" | grep -q '[<,]UP[,>]' && was_up=1
  do_cmd ip link set dev "$old" down
  do_cmd ip link set dev "$old" name "$new"
  if ((was_up)); then do_cmd ip link set dev "$new" up; fi
  echo "$PROG: renamed $old to $new"
}

sysctl_set() {
  local key=$1 want=$2 have
  have=$(sysctl -n "$key" 2>/dev/null) || die "sysctl $key: not available"
  if ((check)); then
    report "$key" "$want" "$have"
  elif [[ "$have" != "$want" ]]; then
    do_cmd sysctl -qw "$key=$want"
  fi
}

# ethtool -k long names of the offloads the sensor needs off, by ethtool -K short name.
declare -A OFFLOADS=(
  [gro]=generic-receive-offload
  [lro]=large-receive-offload
  [tso]=tcp-segmentation-offload
  [gso]=generic-segmentation-offload
  [rx-gro-hw]=rx-gro-hw
)

offloads_off() {
  local dev=$1 features short long state
  features=$(ethtool -k "$dev") || die "ethtool -k $dev failed"
  for short in gro lro tso gso rx-gro-hw; do
    long=${OFFLOADS[$short]}
    state=$(awk -v k="$long:" '$1 == k {print $2, $3}' <<<"$features")
    [[ -n "$state" ]] || continue           # the driver does not have it
    [[ "$state" == *"[fixed]"* ]] && {
      ((check)) && printf '  fixed    %-44s %s\n' "$dev $long" "${state%% *}"
      continue
    }
    if ((check)); then
      report "$dev $long" off "${state%% *}"
    elif [[ "${state%% *}" != off ]]; then
      do_cmd ethtool -K "$dev" "$short" off
    fi
  done
}

set_promisc() {
  local dev=$1 want=$2 have=off
  ip -o link show dev "$dev" | grep -q '[<,]PROMISC[,>]' && have=on
  if ((check)); then
    report "$dev promiscuous" "$want" "$have"
  elif [[ "$have" != "$want" ]]; then
    do_cmd ip link set dev "$dev" promisc "$want"
  fi
}

while (($#)); do
  case $1 in
    --wan-net) wan_net=${2:?--wan-net needs a CIDR}; shift 2 ;;
    --wan-mac) wan_mac=${2:?--wan-mac needs a MAC address}; shift 2 ;;
    --lan-net) lan_net=${2:?--lan-net needs a CIDR}; shift 2 ;;
    --lan-mac) lan_mac=${2:?--lan-mac needs a MAC address}; shift 2 ;;
    --rename)
      [[ $# -ge 3 ]] || die "--rename needs two names: WAN LAN"
      wan_name=$2 lan_name=$3
      shift 3
      ;;
    --promisc) promisc=${2:?--promisc needs none, lan, wan or both}; shift 2 ;;
    --rp-filter) rp_filter=${2:?--rp-filter needs 0, 1 or 2}; shift 2 ;;
    --print) print=1; shift ;;
    --check) check=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage ;;
    *) echo "$PROG: unknown argument '$1'" >&2; usage ;;
  esac
done

[[ -n "$wan_net$wan_mac" ]] || { echo "$PROG: the WAN NIC: --wan-net CIDR or --wan-mac MAC" >&2; usage; }
[[ -n "$lan_net$lan_mac" ]] || { echo "$PROG: the LAN NIC: --lan-net CIDR or --lan-mac MAC" >&2; usage; }
[[ -z "$wan_net" || -z "$wan_mac" ]] || die "--wan-net and --wan-mac exclude each other"
[[ -z "$lan_net" || -z "$lan_mac" ]] || die "--lan-net and --lan-mac exclude each other"
for cidr in "$wan_net" "$lan_net"; do
  [[ -z "$cidr" ]] || valid_cidr "$cidr" || die "not a network in CIDR notation: '$cidr'"
done
for mac in "$wan_mac" "$lan_mac"; do
  [[ -z "$mac" ]] || valid_mac "$mac" || die "not a MAC address: '$mac'"
done
for name in "$wan_name" "$lan_name"; do
  [[ -z "$name" || "$name" =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || die "not an interface name: '$name'"
done
[[ -z "$wan_name" || "$wan_name" != "$lan_name" ]] || die "--rename: the two names must differ"
[[ "$promisc" =~ ^(none|lan|wan|both)$ ]] || die "--promisc: none, lan, wan or both, not '$promisc'"
[[ "$rp_filter" =~ ^[012]$ ]] || die "--rp-filter: 0, 1 or 2, not '$rp_filter'"
for tool in ip ethtool sysctl awk; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (install iproute2, ethtool, procps)"
done
((check || dry_run)) || [[ $EUID -eq 0 ]] || die "must run as root"

wan=$(find_iface "$wan_net" "$wan_mac")
lan=$(find_iface "$lan_net" "$lan_mac")
[[ "$wan" != "$lan" ]] || die "the WAN and LAN selections name the same interface: $wan"
echo "$PROG: WAN NIC $wan (${wan_net:-mac $wan_mac}), LAN NIC $lan (${lan_net:-mac $lan_mac})"

if [[ -n "$wan_name" ]]; then
  if ((check)); then
    report "WAN NIC name" "$wan_name" "$wan"
    report "LAN NIC name" "$lan_name" "$lan"
  else
    # Through temporary names when one NIC holds the name the other one gets.
    if [[ "$lan" == "$wan_name" || "$wan" == "$lan_name" ]]; then
      rename_iface "$wan" "snfw$$"
      rename_iface "$lan" "snfl$$"
      wan="snfw$$" lan="snfl$$"
    fi
    rename_iface "$wan" "$wan_name"
    rename_iface "$lan" "$lan_name"
    if ((!dry_run)); then
      wan=$wan_name lan=$lan_name
    fi
  fi
fi

((check)) && echo "$PROG: checking $wan (WAN) and $lan (LAN)"
sysctl_set net.ipv4.ip_forward 1
sysctl_set net.ipv6.conf.all.forwarding 1
sysctl_set net.ipv4.conf.all.rp_filter 0
sysctl_set net.ipv4.conf.all.send_redirects 0
for dev in "$wan" "$lan"; do
  sysctl_set "net.ipv4.conf.$dev.rp_filter" "$rp_filter"
  sysctl_set "net.ipv4.conf.$dev.send_redirects" 0
  offloads_off "$dev"
done
case $promisc in
  none) set_promisc "$wan" off; set_promisc "$lan" off ;;
  lan) set_promisc "$wan" off; set_promisc "$lan" on ;;
  wan) set_promisc "$wan" on; set_promisc "$lan" off ;;
  both) set_promisc "$wan" on; set_promisc "$lan" on ;;
esac

if ((check)); then
  if ((differs)); then
    echo "$PROG: the gateway is NOT prepared as wanted (see DIFFERS above)"
  else
    echo "$PROG: the gateway is prepared"
  fi
elif ((!dry_run)); then
  echo "$PROG: $wan (WAN) and $lan (LAN) prepared: forwarding on, rp_filter $rp_filter, redirects off, offloads off, promiscuous: $promisc"
fi
if ((print)); then
  echo "WAN_IF=$wan"
  echo "LAN_IF=$lan"
fi
exit "$differs"
