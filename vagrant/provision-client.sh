#!/usr/bin/env bash
# provision-client.sh: the Vagrant lab's client VM, on the LAN behind the defender.
# Run by the Vagrantfile as root on every "vagrant up"/"reload"/"provision" (idempotent):
#
#   - the scenarios' tools (iperf3, tcpreplay, tshark, hping3), installed while the default
#     route still goes through Vagrant's NAT NIC;
#   - the LAN NIC, found by its network (192.0.2.0/24): offloads off (its packet counters
#     are compared with the sensor's records), the lab's IPv6 address 2001:db8:200::10/64,
#     a permanent neighbour entry for the defender (its MAC is fixed by the Vagrantfile);
#   - the default routes (IPv4 and IPv6) through the defender (192.0.2.1, 2001:db8:200::1).
#     Vagrant's SSH still works: it reaches the NAT NIC from that NIC's own subnet.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROVISION_NAME=provision-client
# shellcheck source-path=SCRIPTDIR source=provision-common.sh
source "$HERE/provision-common.sh"

[[ $EUID -eq 0 ]] || die "must run as root"
# Installed first: once the default route is the defender, the VM has no way out.
install_packages iproute2 ethtool iputils-ping netcat-openbsd python3 iperf3 tcpreplay tshark hping3
lan=$(nic_by_net "$LAB_LAN_NET")
log "LAN NIC: $lan ($(cat "/sys/class/net/$lan/address"))"
offloads_off "$lan"
ipv6_addr "$lan" "$LAB_CLIENT6/64"
neighbour "$lan" "$LAB_DEFENDER_LAN" "$LAB_MAC_DEFENDER_LAN"
neighbour "$lan" "$LAB_DEFENDER_LAN6" "$LAB_MAC_DEFENDER_LAN"
ip route replace default via "$LAB_DEFENDER_LAN" dev "$lan"
ip -6 route replace default via "$LAB_DEFENDER_LAN6" dev "$lan"
log "default routes via the defender: $(ip route show default) / $(ip -6 route show default)"
