#!/usr/bin/env bash
# throughput.sh: iperf3 from the client to a server on the attacker, through the gateway.
#
# An iperf3 server on the attacker (port THROUGHPUT_PORT, default 5201, one test), the
# client runs iperf3 -c for THROUGHPUT_SECONDS (default 3) at THROUGHPUT_BITRATE (default
# 200M bit/s; 0 = as fast as it goes, which is where ring-full drops show, counted).
#
# Expected, independent of the sensor: the bytes iperf3 reports and the packet counters of
# the endpoints' own NICs over the test (offloads are off on every lab NIC, so NIC packets
# are wire packets):
#   lan0 xdp_ingress  client -> server TCP  = client NIC tx packets
#   wan0 xdp_ingress  server -> client TCP  = server NIC tx packets
#   wan0 tc_egress    client -> server TCP  = server NIC rx packets (forwarded copies)
#   two flows (control and data connection), first seen on lan0, outbound, conn_state SF,
#   whose packets each way are those NIC counters;
#   the data connection, client -> server: the sequence space its payload covers (from the
#   events' TCP sequence numbers) = iperf3's bytes sent + the 37-byte cookie iperf3 writes
#   first on every stream; segments repeating sequence space = iperf3's retransmits (TCP
#   tail-loss probes happen even on veth); the flow record's payload bytes = those bytes +
#   the retransmitted bytes; no ring-full drop (else the figures say how many).
#
# Run it through vagrant/netns-lab.sh run throughput or vagrant/vm-lab.sh run throughput.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

DURATION=${THROUGHPUT_SECONDS:-3}
BITRATE=${THROUGHPUT_BITRATE:-200M}
PORT=${THROUGHPUT_PORT:-5201}

scenario_begin throughput
need_tools client iperf3
need_tools attacker iperf3
read -r client_if _ < <(iface_on client "$LAN_NET")
read -r server_if _ < <(iface_on attacker "$WAN_NET")
say "expected: flows 2 on $LAN_IF (iperf3 control + data, outbound, SF); records = the NICs' packet counters; data sequence space = iperf3 bytes + 37"

sensor_restart
collector_start
warm_up
pidfile=/tmp/sniffer-scenario-iperf3-$PORT.pid
on attacker "iperf3 -s -1 -D -B $(q "$ATTACKER_IP") -p $PORT --pidfile $pidfile" || fail_setup "cannot start the iperf3 server"
at_exit attacker "test -s $pidfile && kill \$(cat $pidfile); rm -f $pidfile"
for ((i = 0; i < 50; i++)); do
  on attacker "ss -Htln 'sport = :$PORT' | grep -q ." && break
  sleep 0.1
done
read -r client_tx0 _ < <(nic_counters client "$client_if")
read -r server_tx0 server_rx0 < <(nic_counters attacker "$server_if")
say "iperf3 $CLIENT_IP -> $ATTACKER_IP:$PORT for $DURATION s at $BITRATE bit/s"
on client "iperf3 -c $(q "$ATTACKER_IP") -p $PORT -t $DURATION -b $BITRATE -J" >"$HOST_WORK/iperf3.json" ||
  fail_setup "iperf3 failed: $(head -c 600 "$HOST_WORK/iperf3.json")"
# The client has closed; the server closes its side of both connections when it exits (-1).
# On a loaded machine that can take longer than the grace below: wait for it first.
for ((i = 0; i < 100; i++)); do
  on attacker "test -s $pidfile && kill -0 \$(cat $pidfile) 2>/dev/null" || break
  sleep 0.1
done
sleep 1.5 # the last ACKs; flows.tcp_close_grace_ms (1000 in config/lab.json): the flows end by FIN
read -r client_tx1 _ < <(nic_counters client "$client_if")
read -r server_tx1 server_rx1 < <(nic_counters attacker "$server_if")
sensor_stop
collector_stop

# The expected figures: iperf3's report and the NIC counters over the test.
"$HOST_PYTHON" - "$HOST_WORK/iperf3.json" "$HOST_WORK/expected.json" "$CLIENT_IP" "$ATTACKER_IP" "$PORT" \
  "$DURATION" "$BITRATE" $((client_tx1 - client_tx0)) $((server_tx1 - server_tx0)) $((server_rx1 - server_rx0)) <<'EOF' ||
import json, sys
src, dst, client, server, port, duration, bitrate, client_tx, server_tx, server_rx = sys.argv[1:]
end = (r := json.load(open(src)))["end"]
sent = end["sum_sent"]
json.dump({"client": client, "server": server, "server_port": int(port),
           "data_port": r["start"]["connected"][0]["local_port"], "seconds": duration, "bitrate": bitrate,
           "bytes_sent": sent["bytes"], "bytes_received": end["sum_received"]["bytes"],
           "retransmits": sent.get("retransmits", 0), "client_tx": int(client_tx), "server_tx": int(server_tx),
           "server_rx": int(server_rx)}, open(dst, "w"))
print(f"[throughput] iperf3: {sent['bytes']} bytes sent at {sent['bits_per_second'] / 1e6:.0f} Mbit/s,"
      f" {sent.get('retransmits', 0)} retransmits; NICs: client tx {client_tx}, server tx {server_tx}, rx {server_rx}")
EOF
  fail_setup "cannot read iperf3's report"
scenario_check throughput --expected "$HOST_WORK/expected.json"
