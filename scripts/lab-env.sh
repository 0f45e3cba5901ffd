# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are read by the scripts that source this file
# lab-env.sh: what the lab's scripts share (sourced by lab-topology.sh, demo.sh, soak.sh).
#
# The lab's fixed addresses; with REPO set: BUILD_DIR (SNIFFER_BUILD_DIR, default build/),
# TOPOLOGY (lab-topology.sh) and PYTHON; start_sensor.

# Fixed, locally administered MAC addresses: the permanent neighbour entries
# need them, and a test can compare them with what it captured.
MAC_GW_WAN=02:53:00:64:00:01
MAC_PEER_WAN=02:53:00:64:00:10
MAC_GW_LAN=02:53:00:02:00:01
MAC_PEER_LAN=02:53:00:02:00:10

WAN4_GW=198.51.100.1
WAN4_PEER=198.51.100.10
WAN6_GW=2001:db8:100::1
WAN6_PEER=2001:db8:100::10
LAN4_GW=192.0.2.1
LAN4_PEER=192.0.2.10
LAN6_GW=2001:db8:200::1
LAN6_PEER=2001:db8:200::10

if [[ -n ${REPO:-} ]]; then
  BUILD_DIR=${SNIFFER_BUILD_DIR:-$REPO/build}
  [[ $BUILD_DIR = /* ]] || BUILD_DIR=$REPO/$BUILD_DIR
  TOPOLOGY=$REPO/scripts/lab-topology.sh
  PYTHON=/usr/bin/python3
  [[ -x $PYTHON ]] || PYTHON=python3
fi

# start_sensor NAMESPACE BINARY CONFIG WORKDIR: starts the daemon in the namespace,
# its final report in WORKDIR/report.json and its log in WORKDIR/sniffer.log; sets
# DAEMON_PID. Returns once the daemon says READY=1 (sd_notify, as systemd's
# Type=notify waits for it), or 1 (the log on stderr) if it did not within 10 s.
start_sensor() {
  local ns=$1 binary=$2 config=$3 work=$4 sock=$4/notify.sock waiter i
  "$PYTHON" "$REPO/scripts/notify-ready.py" "$sock" 10 >"$work/notify.out" &
  waiter=$!
  for ((i = 0; i < 100; i++)); do [[ -S $sock ]] && break; sleep 0.02; done
  NOTIFY_SOCKET=$sock ip netns exec "$ns" "$binary" --config "$config" >"$work/report.json" 2>"$work/sniffer.log" &
  DAEMON_PID=$!
  while kill -0 "$waiter" 2>/dev/null; do  # until READY=1, the timeout, or the daemon's exit
    kill -0 "$DAEMON_PID" 2>/dev/null || { kill "$waiter" 2>/dev/null; break; }
    sleep 0.05
  done
  wait "$waiter" 2>/dev/null && return 0
  cat "$work/sniffer.log" >&2
  return 1
}
