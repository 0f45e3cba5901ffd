# shellcheck shell=bash
# lab-sensor.sh: sourced by demo.sh and soak.sh (bash).
#
# start_sensor NAMESPACE BINARY CONFIG WORKDIR: starts the daemon in the namespace,
# its final report in WORKDIR/report.json and its log in WORKDIR/sniffer.log; sets
# DAEMON_PID. Returns once it publishes, or 1 (the log on stderr) if it did not
# within 10 s.
start_sensor() {
  local ns=$1 binary=$2 config=$3 work=$4 i
  ip netns exec "$ns" "$binary" --config "$config" >"$work/report.json" 2>"$work/sniffer.log" &
  DAEMON_PID=$!
  for ((i = 0; i < 100; i++)); do
    grep -q "publishing on" "$work/sniffer.log" && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
  done
  grep -q "publishing on" "$work/sniffer.log" && return 0
  cat "$work/sniffer.log" >&2
  return 1
}
