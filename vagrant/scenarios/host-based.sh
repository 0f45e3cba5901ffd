#!/usr/bin/env bash
# host-based.sh: a TCP SYN scan of the defender itself, from the attacker.
#
# hping3 sends SCAN_COUNT (default 1000) SYNs to SCAN_COUNT consecutive ports of the
# defender's WAN address (from SCAN_FIRST_PORT, default 20001: nothing listens there in
# either lab, and port 22 is outside: config/lab.json filters it), one source port each.
# The defender's kernel answers every one with a RST/ACK. wan0 is in host-based mode
# (xdp + tc_egress), so the sensor sees the probes at wan0 xdp_ingress and the replies at
# wan0 tc_egress.
#
# Expected: wan0 records 2 x N (N SYN at xdp_ingress, N RST/ACK at tc_egress), lan0 none;
# N flows, first seen on wan0, direction to_sensor, conn_state REJ, one packet each way.
#
# Run it through vagrant/netns-lab.sh run host-based or vagrant/vm-lab.sh run host-based.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

COUNT=${SCAN_COUNT:-1000}
FIRST_PORT=${SCAN_FIRST_PORT:-20001}
SOURCE_PORT=${SCAN_SOURCE_PORT:-40000}   # hping3 increments it per probe
INTERVAL_US=${SCAN_INTERVAL_US:-1000}

scenario_begin host-based
need_tools attacker hping3 ping
listening=$(on defender "ss -Htln | awk '{n = split(\$4, a, \":\"); p = a[n]; if (p >= $FIRST_PORT && p < $FIRST_PORT + $COUNT) print p}'")
[[ -z $listening ]] || fail_setup "the defender listens on TCP port(s) $listening inside the scan range: choose SCAN_FIRST_PORT"
say "expected: $WAN_IF records $((2 * COUNT)) ($COUNT SYN at xdp_ingress, $COUNT RST/ACK at tc_egress), $LAN_IF 0; flows $COUNT on $WAN_IF (REJ, to_sensor)"

sensor_restart
collector_start
warm_up
say "scanning $DEFENDER_WAN_IP ports $FIRST_PORT-$((FIRST_PORT + COUNT - 1)) from $ATTACKER_IP (hping3 -S, $COUNT probes)"
hping3_syns "$DEFENDER_WAN_IP" -s "$SOURCE_PORT" -p "++$FIRST_PORT" -c "$COUNT" -i "u$INTERVAL_US"
sent=$SENT received=$RECEIVED
say "hping3: $sent probes sent, $received replies received"
sleep 1.5   # flows.tcp_close_grace_ms (1000 in config/lab.json): the flows end by RST
sensor_stop
collector_stop
scenario_check host-based --param "count=$COUNT" --param "first_port=$FIRST_PORT" --param "sent=$sent"
