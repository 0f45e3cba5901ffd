#!/usr/bin/env bash
# provision-attacker.sh: the Vagrant lab's attacker VM, on the WAN side of the defender.
# Run by the Vagrantfile as root on every "vagrant up"/"reload"/"provision" (idempotent):
#
#   - the scenarios' tools (hping3, iperf3, tcpreplay);
#   - the WAN NIC, found by its network (198.51.100.0/24): offloads off, the lab's IPv6
#     address 2001:db8:100::10/64, a permanent neighbour entry for the defender (its MAC is
#     fixed by the Vagrantfile);
#   - routes to the LAN (192.0.2.0/24, 2001:db8:200::/64) through the defender's WAN address.
#     The default route stays on Vagrant's NAT NIC.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROVISION_NAME=provision-attacker
# shellcheck source-path=SCRIPTDIR source=provision-common.sh
source "$HERE/provision-common.sh"

[[ $EUID -eq 0 ]] || die "must run as root"
install_packages iproute2 ethtool iputils-ping netcat-openbsd python3 hping3 iperf3 tcpreplay
wan=$(nic_by_net "$LAB_WAN_NET")
log "WAN NIC: $wan ($(cat "/sys/class/net/$wan/address"))"
offloads_off "$wan"
ipv6_addr "$wan" "$LAB_ATTACKER6/64"
neighbour "$wan" "$LAB_DEFENDER_WAN" "$LAB_MAC_DEFENDER_WAN"
neighbour "$wan" "$LAB_DEFENDER_WAN6" "$LAB_MAC_DEFENDER_WAN"
ip route replace "$LAB_LAN_NET" via "$LAB_DEFENDER_WAN" dev "$wan"
ip -6 route replace "$LAB_LAN6_NET" via "$LAB_DEFENDER_WAN6" dev "$wan"
log "routes to the LAN via the defender: $(ip route show "$LAB_LAN_NET") / $(ip -6 route show "$LAB_LAN6_NET")"
