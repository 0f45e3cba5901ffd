#!/usr/bin/env bash
# gateway.sh: a real capture replayed from the client side, through the defender.
#
# GATEWAY_PCAP (default web/http_bro_org.pcap: 751 frames, 13 HTTP connections between
# two hosts; see tests/data/pcaps/MANIFEST.tsv), relative to PCAP_DIR (the lab's default: the
# in-repository tests/data/pcaps; SNIFFER_PCAP_DIR selects another corpus), must hold IPv4
# traffic between two hosts. tcprewrite moves it into the lab: the capture's first source
# becomes GATEWAY_CLIENT_ADDR (default 192.0.2.50, on the LAN), its first destination
# GATEWAY_SERVER_ADDR (default 198.51.100.50, on the WAN); every frame gets the client's
# MAC as source and the defender's LAN MAC as destination, so the defender routes it;
# checksums are recomputed. tcpreplay sends all of it (both directions) from the client's
# LAN NIC at GATEWAY_PPS frames per second (default 2000).
#
# The defender forwards client -> server frames out of wan0 and hairpins server -> client
# frames back out of lan0 (rp_filter loose on lan0: prepare-gateway.sh). Permanent
# neighbour entries on the defender, removed afterwards, send them to the attacker's and
# the client's MAC, whose kernels drop them silently (not their address, no forwarding):
# nothing answers, so the sensor sees the capture and nothing else.
#
# Expected, from tshark on the rewritten file: lan0 xdp_ingress every frame (records =
# frames), wan0 tc_egress the client -> server frames; one flow per TCP/UDP conversation,
# first seen on lan0, direction outbound, with tshark's frames and bytes in each direction.
#
# Run it through vagrant/netns-lab.sh run gateway or vagrant/vm-lab.sh run gateway.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PCAP=${GATEWAY_PCAP:-web/http_bro_org.pcap}
A=${GATEWAY_CLIENT_ADDR:-192.0.2.50}
B=${GATEWAY_SERVER_ADDR:-198.51.100.50}
PPS=${GATEWAY_PPS:-2000}
: "${PCAP_DIR:?PCAP_DIR is not set: the capture directory (tests/data/pcaps) on the client}"

scenario_begin gateway
need_tools client tcpreplay tcprewrite tshark
need_tools defender ip
on client "test -r $(q "$PCAP_DIR/$PCAP")" || fail_setup "the client cannot read $PCAP_DIR/$PCAP"

read -r client_if client_mac < <(iface_on client "$LAN_NET")
read -r attacker_if attacker_mac < <(iface_on attacker "$WAN_NET")
defender_lan_mac=$(on defender "cat /sys/class/net/$(q "$LAN_IF")/address")
say "client NIC $client_if $client_mac, attacker NIC $attacker_if $attacker_mac, defender $LAN_IF $defender_lan_mac"

# The capture's two hosts: the first frame's source and destination.
read -r orig_a orig_b < <(on client "tshark -n -r $(q "$PCAP_DIR/$PCAP") -c 1 -T fields -e ip.src -e ip.dst 2>/dev/null" | tr '\t' ' ')
[[ -n ${orig_a:-} && -n ${orig_b:-} ]] || fail_setup "$PCAP: the first frame is not IPv4"
say "$PCAP: $orig_a -> $A (LAN), $orig_b -> $B (WAN); frames to the defender's $LAN_IF MAC"

client_workdir
rewritten=$CLIENT_WORK/replay.pcap
on client "tcprewrite --infile=$(q "$PCAP_DIR/$PCAP") --outfile=$(q "$rewritten") \
  --pnat=$(q "$orig_a/32:$A/32,$orig_b/32:$B/32") --enet-smac=$client_mac --enet-dmac=$defender_lan_mac --fixcsum" ||
  fail_setup "tcprewrite failed"
on client "tshark -n -r $(q "$rewritten") -T fields -E occurrence=f -e frame.len -e eth.type -e ip.src -e ip.dst \
  -e ip.proto -e ip.ttl -e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport 2>/dev/null" |
  "$HOST_PYTHON" "$SCENARIO_LIB/tshark_expect.py" --client "$A" --server "$B" --pcap "$PCAP" >"$HOST_WORK/expected.json" ||
  fail_setup "$PCAP does not fit this scenario (above); choose another GATEWAY_PCAP"
read -r frames a_to_b b_to_a convs < <("$HOST_PYTHON" -c 'import json, sys
e = json.load(open(sys.argv[1]))
print(e["frames"], e["frames_a_to_b"], e["frames_b_to_a"], len(e["conversations"]))' "$HOST_WORK/expected.json")
say "expected (tshark): $LAN_IF records $frames ($a_to_b $A -> $B, $b_to_a back), $WAN_IF records $a_to_b (tc_egress); flows $convs on $LAN_IF (outbound)"

# Where the defender sends the rewritten hosts' frames: to MACs whose kernels drop them.
on defender "ip neigh replace $B lladdr $attacker_mac dev $(q "$WAN_IF") nud permanent &&
  ip neigh replace $A lladdr $client_mac dev $(q "$LAN_IF") nud permanent" || fail_setup "cannot add the neighbour entries"
at_exit defender "ip neigh del $B dev $(q "$WAN_IF"); ip neigh del $A dev $(q "$LAN_IF")"

sensor_restart
collector_start
warm_up
say "replaying $frames frames on the client's $client_if at $PPS frames/s (tcpreplay)"
out=$(on client "tcpreplay -i $(q "$client_if") --pps=$PPS $(q "$rewritten") 2>&1") || fail_setup "tcpreplay failed: $out"
sent=$(sed -nE 's/^[[:space:]]*Actual: ([0-9]+) packets.*/\1/p' <<<"$out")
failed=$(sed -nE 's/^[[:space:]]*Failed packets:[[:space:]]*([0-9]+).*/\1/p' <<<"$out")
[[ -n $sent && -n $failed ]] || fail_setup "tcpreplay: no statistics in '$out'"
say "tcpreplay: $sent frames sent, $failed failed"
sleep 1.5   # flows.tcp_close_grace_ms (1000 in config/lab.json): closed connections end by FIN
sensor_stop
collector_stop
scenario_check gateway --expected "$HOST_WORK/expected.json" --param "sent=$sent" --param "failed=$failed"
