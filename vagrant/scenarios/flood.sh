#!/usr/bin/env bash
# flood.sh: a SYN flood from the attacker, through the gateway, at the client.
#
# hping3 sends exactly FLOOD_COUNT (default 20000) SYNs, one every FLOOD_INTERVAL_US
# (default 100 us; hping3 --flood is not count-exact), from FLOOD_SOURCE_PORT upwards (one
# source port each) to a closed port of the client (FLOOD_PORT, default 9). The client's
# kernel answers each with a RST/ACK, which the gateway forwards back out of wan0.
#
# Expected, N = FLOOD_COUNT: wan0 xdp_ingress N SYN, lan0 xdp_ingress N RST/ACK, wan0
# tc_egress N RST/ACK (forwarded copies, kept out of flows): records wan0 2N, lan0 N; the
# kernel counters reconcile (packets = records + ringbuf_full + filtered) with no ring-full
# drop; N flows, first seen on wan0, direction inbound, conn_state REJ.
#
# Run it through vagrant/netns-lab.sh run flood or vagrant/vm-lab.sh run flood.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

COUNT=${FLOOD_COUNT:-20000}
INTERVAL_US=${FLOOD_INTERVAL_US:-100}
PORT=${FLOOD_PORT:-9}
SOURCE_PORT=${FLOOD_SOURCE_PORT:-30000}
((SOURCE_PORT + COUNT <= 65536)) || { echo "flood.sh: FLOOD_SOURCE_PORT + FLOOD_COUNT must stay within 65536 (one source port per SYN)" >&2; exit 2; }

scenario_begin flood
need_tools attacker hping3 ping
listening=$(on client "ss -Htln | awk '{n = split(\$4, a, \":\"); if (a[n] == $PORT) print a[n]}'")
[[ -z $listening ]] || fail_setup "the client listens on TCP port $PORT: choose another FLOOD_PORT"
say "expected: $WAN_IF records $((2 * COUNT)) ($COUNT SYN at xdp_ingress, $COUNT RST/ACK at tc_egress), $LAN_IF $COUNT (RST/ACK); flows $COUNT on $WAN_IF (REJ, inbound)"

sensor_restart
collector_start
warm_up
say "flooding $CLIENT_IP:$PORT from $ATTACKER_IP (hping3 -S, $COUNT SYNs, one per ${INTERVAL_US} us)"
hping3_syns "$CLIENT_IP" -s "$SOURCE_PORT" -p "$PORT" -c "$COUNT" -i "u$INTERVAL_US"
sent=$SENT received=$RECEIVED
say "hping3: $sent SYNs sent, $received RST/ACKs received"
sleep 1.5   # flows.tcp_close_grace_ms (1000 in config/lab.json): the flows end by RST
sensor_stop
collector_stop
scenario_check flood --param "count=$COUNT" --param "port=$PORT" --param "sent=$sent" --param "received=$received"
