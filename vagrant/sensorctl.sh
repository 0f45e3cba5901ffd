#!/usr/bin/env bash
# sensorctl.sh: the sensor service of the Vagrant lab's defender VM (run there, as root).
#
#   sensorctl.sh start          (re)starts it with fresh counters; returns once it publishes
#   sensorctl.sh stop [REPORT]  stops it (SIGTERM) and writes the final JSON report the daemon
#                               prints on stdout (from the journal) to REPORT, else prints it
#   sensorctl.sh status
#
# The service is sniffer.service, running /usr/local/bin/sniffer --config /etc/sniffer/lab.json
# (vagrant/provision-defender.sh installs both):
#   - when the repository has config/sniffer.service, provisioning installed it as
#     /etc/systemd/system/sniffer.service with a drop-in (sniffer.service.d/lab.conf) that
#     sets that ExecStart and RuntimeDirectory=sniffer: then this script uses systemctl;
#   - otherwise it starts a transient unit of the same name with systemd-run
#     (RuntimeDirectory=sniffer for the config's ipc:///run/sniffer/lab.sock).
# Either way the daemon's stdout (its final report) and stderr (its log) go to the journal,
# and a run is found by its invocation id.
set -euo pipefail

PROG=$(basename "$0")
UNIT=sniffer.service
BINARY=${SNIFFER_BINARY:-/usr/local/bin/sniffer}
CONFIG=${SNIFFER_LAB_CONFIG:-/etc/sniffer/lab.json}
STATE=${SENSORCTL_STATE:-/var/lib/sniffer-lab}
START_TIMEOUT=20
STOP_TIMEOUT=20

die() {
  echo "$PROG: $*" >&2
  exit 1
}

installed_unit() {
  [[ -f /etc/systemd/system/$UNIT ]]
}

active() {
  systemctl is-active --quiet "$UNIT"
}

invocation() {
  systemctl show -p InvocationID --value "$UNIT" 2>/dev/null || true
}

journal_of() {
  journalctl --no-pager -q -o cat "_SYSTEMD_INVOCATION_ID=$1"
}

cmd_stop() {
  local report=${1:-} id i line=""
  active || die "$UNIT is not running"
  id=$(invocation)
  [[ -n $id ]] || die "$UNIT: no invocation id"
  systemctl stop "$UNIT"
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    line=$(journal_of "$id" | grep -E '^\{.*"kernel"' | tail -n 1 || true)
    [[ -n $line ]] && break
    sleep 0.1
  done
  [[ -n $line ]] || die "$UNIT printed no final report (journalctl _SYSTEMD_INVOCATION_ID=$id)"
  mkdir -p "$STATE"
  printf '%s\n' "$line" >"$STATE/last-report.json"
  if [[ -n $report ]]; then
    printf '%s\n' "$line" >"$report"
  else
    printf '%s\n' "$line"
  fi
}

cmd_start() {
  local id started=0
  [[ -x $BINARY ]] || die "$BINARY is missing: vagrant provision defender"
  [[ -f $CONFIG ]] || die "$CONFIG is missing: vagrant provision defender"
  if active; then cmd_stop "$STATE/previous-report.json" >/dev/null; fi
  # Type=notify: the start job, and so this command, completes only once the
  # daemon sends READY=1 (every interface attached, publishing); a daemon that
  # exits or stays silent for TimeoutStartSec fails it.
  if installed_unit; then
    systemctl start "$UNIT" && started=1
  else
    systemctl reset-failed "$UNIT" >/dev/null 2>&1 || true
    systemd-run --quiet --unit="$UNIT" --collect --description="sniffer IDS sensor (lab, transient unit)" \
      -p Type=notify -p NotifyAccess=main -p TimeoutStartSec="${START_TIMEOUT}s" \
      -p RuntimeDirectory=sniffer -p RuntimeDirectoryPreserve=yes -p Restart=no \
      "$BINARY" --config "$CONFIG" && started=1
  fi
  id=$(invocation)
  if ((started)) && active; then
    echo "$PROG: $UNIT running ($(installed_unit && echo "installed unit" || echo "transient unit")), invocation $id"
    return 0
  fi
  [[ -n $id ]] && journal_of "$id" | tail -n 20 >&2
  die "$UNIT did not become ready within $START_TIMEOUT s"
}

cmd_status() {
  if active; then
    echo "$UNIT active ($(installed_unit && echo "installed unit" || echo "transient unit")), invocation $(invocation)"
  else
    echo "$UNIT not running"
    return 1
  fi
}

[[ $EUID -eq 0 ]] || die "must run as root"
case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop "${2:-}" ;;
  status) cmd_status ;;
  *)
    echo "usage: $PROG start | stop [REPORT] | status" >&2
    exit 2
    ;;
esac
