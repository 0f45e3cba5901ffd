#!/usr/bin/env bash
# netns-lab.sh: the Vagrant lab's topology on one machine, in network namespaces.
#
#   PREFIX-wan (attacker)        PREFIX-gw (defender: the sensor)          PREFIX-lan (client)
#   eth0 198.51.100.10 <-veth-> wan0 198.51.100.1 | lan0 192.0.2.1 <-veth-> eth0 192.0.2.10
#
# The same roles, addresses and sensor config as the VMs (Vagrantfile): the namespaces come
# from scripts/lab-topology.sh, the gateway is prepared by vagrant/prepare-gateway.sh (the
# script the defender VM's provisioning runs), and the daemon runs in PREFIX-gw with
# config/lab.json, its endpoint moved to this lab's state directory.
#
# Usage (as root):
#   netns-lab.sh [--prefix P] up                   namespaces, gateway preparation, sensor
#   netns-lab.sh [--prefix P] down                 stops the sensor, removes everything
#   netns-lab.sh [--prefix P] status               namespaces, gateway check, sensor
#   netns-lab.sh [--prefix P] run SCENARIO [--keep]
#         runs vagrant/scenarios/SCENARIO.sh (host-based, flood, gateway, throughput) and
#         exits with its status. Brings the lab up first if it is not, and then down again
#         afterwards unless --keep; a lab that was up already stays up.
#   netns-lab.sh [--prefix P] sensor start|stop [REPORT]|status
#         start: (re)starts the daemon (fresh counters), returns once it publishes;
#         stop: SIGTERM, writes its final JSON report to REPORT (default: prints it)
#   netns-lab.sh [--prefix P] env                  the scenario environment, as export lines
#   netns-lab.sh [--prefix P] exec attacker|client|defender COMMAND_LINE
#   netns-lab.sh list                              the scenarios
#
# PREFIX (default "lab", or $NETNS_LAB_PREFIX) names the namespaces; state (config copy,
# daemon pid, log, report, the ipc socket) lives in $NETNS_LAB_STATE/PREFIX (default
# /run/sniffer-netns-lab/PREFIX). The binaries come from $SNIFFER_BUILD_DIR (default
# ./build: scripts/build.sh); the captures from $SNIFFER_PCAP_DIR (default the in-repository
# tests/data/pcaps);
# the config from $NETNS_LAB_CONFIG (default config/lab.json; its endpoint
# ipc:///run/sniffer/lab.sock is replaced).
set -euo pipefail

PROG=$(basename "$0")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=$HERE/$PROG
REPO=$(cd "$HERE/.." && pwd)
TOPOLOGY=$REPO/scripts/lab-topology.sh
PREPARE=$HERE/prepare-gateway.sh
SCENARIOS=$HERE/scenarios
BUILD_DIR=${SNIFFER_BUILD_DIR:-$REPO/build}
[[ $BUILD_DIR = /* ]] || BUILD_DIR=$REPO/$BUILD_DIR
# shellcheck source-path=SCRIPTDIR source=../scripts/lib/pcaps.sh
source "$REPO/scripts/lib/pcaps.sh"
PCAPS=${SNIFFER_PCAP_DIR:-$(repo_pcaps "$REPO")}
CONFIG=${NETNS_LAB_CONFIG:-$REPO/config/lab.json}
STATE_ROOT=${NETNS_LAB_STATE:-/run/sniffer-netns-lab}
PREFIX=${NETNS_LAB_PREFIX:-lab}
WAN_NET=198.51.100.0/24
LAN_NET=192.0.2.0/24
START_TIMEOUT=15
STOP_TIMEOUT=15

die() {
  echo "$PROG: $*" >&2
  exit 1
}

usage() {
  sed -n '/^# Usage/,/^# PREFIX/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

ns_exists() {
  [[ -e /run/netns/$1 ]]
}

state_dir() {
  echo "$STATE_ROOT/$PREFIX"
}

need_root() {
  [[ $EUID -eq 0 ]] || die "must run as root (network namespaces, BPF)"
}

need_build() {
  local f
  for f in "$BUILD_DIR/sniffer" "$BUILD_DIR/proto/sniffer_pb2.py"; do
    [[ -e $f ]] || die "$f is missing: build first (scripts/build.sh), or set SNIFFER_BUILD_DIR"
  done
}

sensor_pid() {
  local pidfile
  pidfile=$(state_dir)/sniffer.pid
  [[ -s $pidfile ]] || return 1
  local pid
  pid=$(<"$pidfile")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# sensor_stop [REPORT]: SIGTERM; the daemon's one-line JSON report goes to REPORT or stdout.
sensor_stop() {
  local report=${1:-} state pid i
  state=$(state_dir)
  [[ -d $state ]] || die "no lab '$PREFIX' (netns-lab.sh up)"
  pid=$(sensor_pid) || die "the sensor of lab '$PREFIX' is not running"
  kill -TERM "$pid"
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    die "the sensor (pid $pid) ignored SIGTERM for $STOP_TIMEOUT s: killed; log: $state/sniffer.log"
  fi
  rm -f "$state/sniffer.pid"
  grep -q '"kernel"' "$state/sniffer.out" ||
    die "the sensor printed no final report; log: $(tail -3 "$state/sniffer.log")"
  cp "$state/sniffer.out" "$state/last-report.json"
  if [[ -n $report ]]; then
    cp "$state/sniffer.out" "$report"
  else
    cat "$state/sniffer.out"
  fi
}

sensor_start() {
  local state pid i waiter
  state=$(state_dir)
  [[ -d $state ]] || die "no lab '$PREFIX' (netns-lab.sh up)"
  need_build
  if sensor_pid >/dev/null; then
    sensor_stop "$state/previous-report.json"
  fi
  : >"$state/sniffer.out"
  : >"$state/sniffer.log"
  # Ready means READY=1 through sd_notify, as systemd's Type=notify waits for.
  python3 "$REPO/scripts/notify-ready.py" "$state/notify.sock" "$START_TIMEOUT" >/dev/null &
  waiter=$!
  for ((i = 0; i < 100; i++)); do [[ -S $state/notify.sock ]] && break; sleep 0.02; done
  NOTIFY_SOCKET=$state/notify.sock ip netns exec "$PREFIX-gw" setsid "$BUILD_DIR/sniffer" --config "$state/lab.json" \
    >"$state/sniffer.out" 2>"$state/sniffer.log" </dev/null &
  pid=$!
  echo "$pid" >"$state/sniffer.pid"
  while kill -0 "$waiter" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      kill "$waiter" 2>/dev/null || true
      rm -f "$state/sniffer.pid"
      cat "$state/sniffer.log" >&2
      die "the sensor exited instead of publishing (its log above)"
    fi
    sleep 0.05
  done
  if wait "$waiter"; then
    echo "$PROG: sensor running in $PREFIX-gw (pid $pid), publishing on ipc://$state/lab.sock"
    return 0
  fi
  cat "$state/sniffer.log" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$state/sniffer.pid"
  die "the sensor sent no READY=1 within $START_TIMEOUT s (its log above)"
}

cmd_up() {
  local state ns names
  need_root
  need_build
  state=$(state_dir)
  [[ ! -e $state ]] || die "lab '$PREFIX' is up already ($state exists): netns-lab.sh --prefix $PREFIX down"
  for ns in "$PREFIX-wan" "$PREFIX-gw" "$PREFIX-lan"; do
    ! ns_exists "$ns" || die "namespace $ns exists already (not made by $PROG?): scripts/lab-topology.sh down $PREFIX"
  done
  trap 'echo "$PROG: up $PREFIX failed; removing what was created" >&2; teardown' EXIT
  mkdir -p "$state"
  "$TOPOLOGY" up "$PREFIX"
  # The defender's preparation: the same script as the VM's, NICs found by their network.
  names=$(ip netns exec "$PREFIX-gw" "$PREPARE" --wan-net "$WAN_NET" --lan-net "$LAN_NET" \
    --rename wan0 lan0 --print)
  sed '/^[WL]AN_IF=/d; s/^/  /' <<<"$names"
  if ! grep -qx "WAN_IF=wan0" <<<"$names" || ! grep -qx "LAN_IF=lan0" <<<"$names"; then
    die "prepare-gateway.sh did not give wan0 and lan0: $names"
  fi
  # config/lab.json with its endpoint moved into the state directory.
  sed "s|ipc:///run/sniffer/lab.sock|ipc://$state/lab.sock|" "$CONFIG" >"$state/lab.json"
  grep -q "ipc://$state/lab.sock" "$state/lab.json" || die "$CONFIG: cannot find its publish.endpoint to override"
  sensor_start
  trap - EXIT
  echo "$PROG: lab '$PREFIX' is up; scenarios: $PROG --prefix $PREFIX run NAME ($(list_scenarios | tr '\n' ' '))"
}

teardown() {
  local state rc=0
  state=$(state_dir)
  if sensor_pid >/dev/null; then
    sensor_stop "$state/last-report.json" || rc=1
  fi
  "$TOPOLOGY" down "$PREFIX" || rc=1
  rm -rf "$state"
  return "$rc"
}

cmd_down() {
  need_root
  teardown || die "down $PREFIX: not everything could be removed"
  echo "$PROG: lab '$PREFIX' removed"
}

cmd_status() {
  local state pid rc=0
  state=$(state_dir)
  "$TOPOLOGY" status "$PREFIX" || rc=1
  if ns_exists "$PREFIX-gw"; then
    echo "== gateway preparation (prepare-gateway.sh --check)"
    ip netns exec "$PREFIX-gw" "$PREPARE" --wan-net "$WAN_NET" --lan-net "$LAN_NET" --rename wan0 lan0 --check || rc=1
  fi
  echo "== sensor"
  if pid=$(sensor_pid); then
    echo "running (pid $pid), publishing on ipc://$state/lab.sock; log $state/sniffer.log"
  else
    echo "not running"
    rc=1
  fi
  return "$rc"
}

list_scenarios() {
  local f
  for f in "$SCENARIOS"/*.sh; do basename "$f" .sh; done
}

scenario_env() {
  local state
  state=$(state_dir)
  cat <<EOF
export ATTACKER_EXEC="ip netns exec $PREFIX-wan bash -c"
export CLIENT_EXEC="ip netns exec $PREFIX-lan bash -c"
export DEFENDER_EXEC="ip netns exec $PREFIX-gw bash -c"
export SENSOR_CTL="$SELF --prefix $PREFIX sensor"
export SNIFFER_ENDPOINT="ipc://$state/lab.sock"
export DEFENDER_REPO="$REPO"
export SNIFFER_PROTO_DIR="$BUILD_DIR/proto"
export PCAP_DIR="$PCAPS"
export LAB_NAME="netns lab, prefix $PREFIX"
EOF
}

cmd_run() {
  local scenario=$1 keep=$2 script created=0 rc=0
  need_root
  script=$SCENARIOS/$scenario.sh
  [[ -f $script ]] || die "no scenario '$scenario' (known: $(list_scenarios | tr '\n' ' '))"
  if [[ ! -d $(state_dir) ]]; then
    cmd_up
    created=1
  fi
  if ((created && !keep)); then
    trap 'teardown >/dev/null || echo "$PROG: could not remove lab $PREFIX" >&2' EXIT
  fi
  eval "$(scenario_env)"
  # A lab removed right after the scenario does not need its sensor restarted.
  if ((created && !keep)); then export SCENARIO_RESTART_SENSOR=0; fi
  bash "$script" || rc=$?
  exit "$rc"
}

# Options anywhere before the command's own arguments.
args=()
while (($#)); do
  case $1 in
    --prefix)
      PREFIX=${2:?--prefix needs a name}
      shift 2
      ;;
    -h | --help) usage ;;
    *)
      args+=("$1")
      shift
      ;;
  esac
done
set -- "${args[@]}"
[[ $# -ge 1 ]] || usage
[[ $PREFIX =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$ ]] || die "invalid prefix '$PREFIX'"

case $1 in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  list) list_scenarios ;;
  env) scenario_env ;;
  run)
    [[ $# -ge 2 ]] || usage
    keep=0
    [[ ${3:-} == --keep ]] && keep=1
    [[ $# -le 3 && ( $# -eq 2 || $keep -eq 1 ) ]] || usage
    cmd_run "$2" "$keep"
    ;;
  sensor)
    need_root
    case ${2:-} in
      start) sensor_start ;;
      stop) sensor_stop "${3:-}" ;;
      status)
        if sensor_pid >/dev/null; then echo running; else
          echo "not running"
          exit 1
        fi
        ;;
      *) usage ;;
    esac
    ;;
  exec)
    [[ $# -eq 3 ]] || usage
    case $2 in
      attacker) ns=$PREFIX-wan ;;
      client) ns=$PREFIX-lan ;;
      defender) ns=$PREFIX-gw ;;
      *) die "exec: attacker, client or defender, not '$2'" ;;
    esac
    ns_exists "$ns" || die "namespace $ns does not exist (netns-lab.sh up)"
    exec ip netns exec "$ns" bash -c "$3"
    ;;
  *) usage ;;
esac
