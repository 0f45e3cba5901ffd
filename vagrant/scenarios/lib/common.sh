# shellcheck shell=bash
# common.sh: what every lab scenario shares; sourced by vagrant/scenarios/*.sh.
#
# A scenario runs on the machine that drives the lab (the host) and reaches the three
# machines of the lab only through command prefixes from its environment, so the same
# script runs in the namespace lab (vagrant/netns-lab.sh) and in the Vagrant lab
# (vagrant/vm-lab.sh), which set them:
#
#   ATTACKER_EXEC, CLIENT_EXEC, DEFENDER_EXEC
#       a command prefix; the scenario appends ONE argument, a shell command line, which
#       runs as root on that machine ("ip netns exec P-wan bash -c" in the namespace lab,
#       "vagrant/vm-lab.sh exec attacker" in the Vagrant lab). Split on blanks.
#   SENSOR_CTL
#       a command prefix; "start" (re)starts the sensor with fresh counters and returns once
#       it publishes; "stop FILE" stops it (SIGTERM) and writes its final JSON report to
#       FILE, a path on the defender.
#   SNIFFER_ENDPOINT   the sensor's publish endpoint, as seen on the defender
#   DEFENDER_REPO      this repository on the defender (for lib/collect.py)
#   SNIFFER_PROTO_DIR  the directory of sniffer_pb2.py on the defender
#   DEFENDER_PYTHON    a python3 with python3-zmq and python3-protobuf on the defender
#                      (default /usr/bin/python3)
#   PCAP_DIR           the capture directory as the client sees it (the gateway scenario;
#                      default the in-repository tests/data/pcaps)
#   LAB_NAME           printed in the banner ("netns lab snf1a2b3c", "vagrant lab")
#
# The lab's addresses and the sensor's interface names (config/lab.json) have defaults, the
# same in both labs: ATTACKER_IP 198.51.100.10, DEFENDER_WAN_IP 198.51.100.1, WAN_NET
# 198.51.100.0/24, DEFENDER_LAN_IP 192.0.2.1, CLIENT_IP 192.0.2.10, LAN_NET 192.0.2.0/24,
# WAN_IF wan0, LAN_IF lan0.
#
# A scenario: scenario_begin NAME; sensor_restart; collector_start; warm_up; <traffic>;
# sensor_stop; collector_stop; scenario_check NAME key=value... (prints expected versus
# observed, and its exit status is the scenario's: 0 when every figure matches, 1 when one
# differs). A failure to run (a tool missing, a command failing) exits with 2.
# SCENARIO_KEEP_WORK=1 keeps the work directories (their paths are printed).

: "${ATTACKER_IP:=198.51.100.10}" "${DEFENDER_WAN_IP:=198.51.100.1}" "${WAN_NET:=198.51.100.0/24}"
: "${DEFENDER_LAN_IP:=192.0.2.1}" "${CLIENT_IP:=192.0.2.10}" "${LAN_NET:=192.0.2.0/24}"
: "${WAN_IF:=wan0}" "${LAN_IF:=lan0}"
: "${DEFENDER_PYTHON:=/usr/bin/python3}" "${LAB_NAME:=lab}"

SCENARIO_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HOST_PYTHON=${HOST_PYTHON:-python3}   # lib/check.py needs only the standard library

SCENARIO=""
HOST_WORK=""      # on the host: the fetched report and collection
DEF_WORK=""       # on the defender: collector output, report
CLIENT_WORK=""    # on the client, when a scenario needs one (client_workdir)
COLLECTOR_RUNNING=0
SENSOR_STOPPED=0
CLEANUP_ROLES=()  # at_exit: commands run by scenario_cleanup, last registered first
CLEANUP_CMDS=()

fail_setup() {
  echo "scenario ${SCENARIO:-?}: $*" >&2
  exit 2
}

say() {
  printf '[%s] %s\n' "${SCENARIO:-scenario}" "$*"
}

# on ROLE COMMAND_LINE: runs a shell command line as root on attacker, client or defender.
on() {
  local role=$1 cmdline=$2 prefix
  case $role in
    attacker) prefix=$ATTACKER_EXEC ;;
    client) prefix=$CLIENT_EXEC ;;
    defender) prefix=$DEFENDER_EXEC ;;
    *) fail_setup "on: unknown role '$role'" ;;
  esac
  local -a words
  read -r -a words <<<"$prefix"
  "${words[@]}" "$cmdline"
}

# q ARG...: the arguments quoted for a shell command line.
q() {
  local out="" a
  for a in "$@"; do out+=$(printf '%q ' "$a"); done
  printf '%s' "${out% }"
}

# hping3_syns TARGET HPING3_ARG...: hping3 -S -q -n from the attacker; sets SENT and
# RECEIVED from its statistics (it exits non-zero when replies are missing: not an error).
hping3_syns() {
  local target=$1 out stats
  shift
  out=$(on attacker "hping3 -S -q -n $* $(q "$target") 2>&1") ||
    [[ $out == *"packets transmitted"* ]] || fail_setup "hping3 failed: $out"
  stats=$(grep -Eo '[0-9]+ packets transmitted, [0-9]+ packets received' <<<"$out") ||
    fail_setup "hping3: no statistics in '$out'"
  # shellcheck disable=SC2034  # SENT, RECEIVED: the results, read by the scenario
  read -r SENT _ _ RECEIVED _ <<<"$stats"
}

sensor_ctl() {
  local -a words
  read -r -a words <<<"$SENSOR_CTL"
  "${words[@]}" "$@"
}

# at_exit ROLE COMMAND_LINE: undo something on that machine when the scenario ends.
at_exit() {
  CLEANUP_ROLES+=("$1")
  CLEANUP_CMDS+=("$2")
}

scenario_cleanup() {
  local rc=$? i
  set +e
  for ((i = ${#CLEANUP_CMDS[@]} - 1; i >= 0; i--)); do
    on "${CLEANUP_ROLES[i]}" "${CLEANUP_CMDS[i]}" >/dev/null 2>&1 || say "warning: cleanup on the ${CLEANUP_ROLES[i]} failed: ${CLEANUP_CMDS[i]}"
  done
  if ((COLLECTOR_RUNNING)) && [[ -n $DEF_WORK ]]; then
    on defender "kill -TERM \$(cat $(q "$DEF_WORK/collect.pid")) 2>/dev/null" >/dev/null 2>&1
  fi
  if [[ ${SCENARIO_KEEP_WORK:-0} == 1 ]]; then
    [[ -n $DEF_WORK ]] && say "kept the defender's work directory $DEF_WORK"
    [[ -n $CLIENT_WORK ]] && say "kept the client's work directory $CLIENT_WORK"
    [[ -n $HOST_WORK ]] && say "kept the host's work directory $HOST_WORK"
  else
    [[ -n $DEF_WORK ]] && on defender "rm -rf $(q "$DEF_WORK")" >/dev/null 2>&1
    [[ -n $CLIENT_WORK ]] && on client "rm -rf $(q "$CLIENT_WORK")" >/dev/null 2>&1
    [[ -n $HOST_WORK ]] && rm -rf "$HOST_WORK"
  fi
  # Leave the lab as found: a running sensor (the netns lab's "run" without --keep skips it).
  if ((SENSOR_STOPPED)) && [[ ${SCENARIO_RESTART_SENSOR:-1} == 1 ]]; then
    sensor_ctl start >/dev/null 2>&1 || say "warning: could not restart the sensor"
  fi
  exit "$rc"
}

# scenario_begin NAME: checks the environment, makes the work directories.
scenario_begin() {
  SCENARIO=$1
  local var
  for var in ATTACKER_EXEC CLIENT_EXEC DEFENDER_EXEC SENSOR_CTL SNIFFER_ENDPOINT DEFENDER_REPO SNIFFER_PROTO_DIR; do
    [[ -n ${!var:-} ]] || fail_setup "$var is not set: run me through vagrant/netns-lab.sh run $SCENARIO or vagrant/vm-lab.sh run $SCENARIO"
  done
  trap scenario_cleanup EXIT
  trap 'exit 130' INT TERM
  HOST_WORK=$(mktemp -d "${TMPDIR:-/tmp}/sniffer-scenario-host.XXXXXX")
  DEF_WORK=$(on defender "mktemp -d /tmp/sniffer-scenario.XXXXXX") || fail_setup "cannot make a work directory on the defender"
  [[ $DEF_WORK == /tmp/sniffer-scenario.* ]] || fail_setup "unexpected answer from the defender: '$DEF_WORK'"
  say "lab: $LAB_NAME; attacker $ATTACKER_IP -- $WAN_IF $DEFENDER_WAN_IP [defender] $LAN_IF $DEFENDER_LAN_IP -- client $CLIENT_IP"
}

# client_workdir: makes CLIENT_WORK, a work directory on the client.
client_workdir() {
  CLIENT_WORK=$(on client "mktemp -d /tmp/sniffer-scenario-client.XXXXXX") || fail_setup "cannot make a work directory on the client"
  [[ $CLIENT_WORK == /tmp/sniffer-scenario-client.* ]] || fail_setup "unexpected answer from the client: '$CLIENT_WORK'"
}

# need_tools ROLE TOOL...: fails when a tool is missing on that machine.
need_tools() {
  local role=$1 tool
  shift
  for tool in "$@"; do
    on "$role" "command -v $(q "$tool") >/dev/null" ||
      fail_setup "'$tool' not found on the $role (install it: apt-get install $tool)"
  done
}

sensor_restart() {
  say "restarting the sensor (fresh counters)"
  sensor_ctl start >/dev/null || fail_setup "the sensor did not start ($SENSOR_CTL start)"
}

collector_start() {
  local d
  d=$(q "$DEF_WORK")
  on defender "cd $d || exit 1; nohup setsid $(q "$DEFENDER_PYTHON" "$DEFENDER_REPO/vagrant/scenarios/lib/collect.py" \
    --endpoint "$SNIFFER_ENDPOINT" --proto-dir "$SNIFFER_PROTO_DIR" --out "$DEF_WORK") \
    >$d/collect.log 2>&1 </dev/null & echo \$! >$d/collect.pid" || fail_setup "cannot start the collector"
  COLLECTOR_RUNNING=1
}

# warm_up: ZeroMQ's slow joiner. The attacker pings the defender's WAN address until the
# collector has received an event (ICMP echo: no scenario counts TCP or UDP from these).
warm_up() {
  local i d
  d=$(q "$DEF_WORK")
  for ((i = 0; i < 40; i++)); do
    on attacker "ping -n -q -c1 -W1 $(q "$DEFENDER_WAN_IP") >/dev/null 2>&1" || true
    if on defender "test -e $d/ready"; then
      say "subscribed (warm-up: $((i + 1)) ICMP echo request(s) $ATTACKER_IP -> $DEFENDER_WAN_IP)"
      return 0
    fi
    sleep 0.1
  done
  on defender "cat $d/collect.log" >&2 || true
  fail_setup "the collector received no event within 40 warm-up pings"
}

sensor_stop() {
  say "stopping the sensor (SIGTERM): its final report"
  sensor_ctl stop "$DEF_WORK/report.json" >/dev/null || fail_setup "the sensor did not stop cleanly ($SENSOR_CTL stop)"
  SENSOR_STOPPED=1
}

collector_stop() {
  local d
  d=$(q "$DEF_WORK")
  on defender "kill -TERM \$(cat $d/collect.pid)
    for i in \$(seq 150); do test -e $d/collected.json && exit 0; sleep 0.1; done
    cat $d/collect.log >&2; exit 1" || fail_setup "the collector did not finish"
  COLLECTOR_RUNNING=0
  on defender "cat $d/report.json" >"$HOST_WORK/report.json" || fail_setup "cannot read the report"
  on defender "cat $d/collected.json" >"$HOST_WORK/collected.json" || fail_setup "cannot read the collection"
}

# iface_on ROLE NET: "NAME MAC" of the interface of that machine with an address in NET.
iface_on() {
  local role=$1 net=$2 out
  out=$(on "$role" "dev=\$(ip -o -4 addr show to $(q "$net") | awk '{print \$2; exit}')
    [ -n \"\$dev\" ] && echo \"\$dev \$(cat /sys/class/net/\$dev/address)\"") ||
    fail_setup "the $role has no interface in $net"
  [[ $out =~ ^[^[:space:]]+\ ([0-9a-f]{2}:){5}[0-9a-f]{2}$ ]] || fail_setup "the $role: unexpected interface answer '$out'"
  echo "$out"
}

# nic_counters ROLE DEV: "TX_PACKETS RX_PACKETS" of that interface.
nic_counters() {
  local role=$1 dev=$2
  on "$role" "cat /sys/class/net/$(q "$dev")/statistics/tx_packets /sys/class/net/$(q "$dev")/statistics/rx_packets | paste -sd ' '"
}

# scenario_check NAME key=value...: expected versus observed; exits with its status.
scenario_check() {
  local name=$1
  shift
  "$HOST_PYTHON" "$SCENARIO_LIB/check.py" "$name" --report "$HOST_WORK/report.json" \
    --collected "$HOST_WORK/collected.json" --lab "$LAB_NAME" \
    --param "attacker=$ATTACKER_IP" --param "defender_wan=$DEFENDER_WAN_IP" \
    --param "defender_lan=$DEFENDER_LAN_IP" --param "client=$CLIENT_IP" \
    --param "wan_if=$WAN_IF" --param "lan_if=$LAN_IF" "$@"
}
