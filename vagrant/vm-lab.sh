#!/usr/bin/env bash
# vm-lab.sh: drives the Vagrant lab (the top-level Vagrantfile) as netns-lab.sh drives the
# namespace lab, so the same scenarios run in both.
#
#   attacker VM (198.51.100.10) -- WAN, host-only -- defender VM (wan0 198.51.100.1 |
#   lan0 192.0.2.1, the sensor) -- LAN, internal network -- client VM (192.0.2.10)
#
# Usage (as the user who runs Vagrant):
#   vm-lab.sh up [VM...]          vagrant up (builds and provisions on first use)
#   vm-lab.sh down                vagrant destroy -f
#   vm-lab.sh status              VMs, the defender's gateway preparation, the sensor
#   vm-lab.sh provision           re-sync the repository (rsync) and re-provision
#   vm-lab.sh run SCENARIO        runs vagrant/scenarios/SCENARIO.sh against the VMs
#   vm-lab.sh sensor start|stop [REPORT]|status     vagrant/sensorctl.sh on the defender
#   vm-lab.sh exec VM COMMAND_LINE                  a shell command line as root on a VM
#   vm-lab.sh env                 the scenario environment, as export lines
#
# Commands reach the VMs through ssh with "vagrant ssh-config" (cached in
# .vagrant/sniffer-ssh-config, with a shared connection: one "vagrant ssh" per command
# would cost seconds each), as root through sudo.
set -euo pipefail

PROG=$(basename "$0")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=$HERE/$PROG
REPO=$(cd "$HERE/.." && pwd)
SSH_CONFIG=${VM_LAB_SSH_CONFIG:-$REPO/.vagrant/sniffer-ssh-config}
VMS=(defender client attacker)
GUEST_REPO=/vagrant
GUEST_PCAPS=/srv/pcaps
GUEST_BUILD=/opt/sniffer/build

die() {
  echo "$PROG: $*" >&2
  exit 1
}

usage() {
  sed -n '/^# Usage/,/^# Commands reach/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

vg() {
  (cd "$REPO" && vagrant "$@")
}

ssh_config() {
  if [[ ! -s $SSH_CONFIG ]]; then
    mkdir -p "$(dirname "$SSH_CONFIG")"
    vg ssh-config "${VMS[@]}" >"$SSH_CONFIG.tmp" || die "vagrant ssh-config failed: are the VMs up? ($PROG up)"
    mv "$SSH_CONFIG.tmp" "$SSH_CONFIG"
  fi
  echo "$SSH_CONFIG"
}

# vm_exec VM COMMAND_LINE: runs the command line as root on the VM (stdout and stderr passed,
# stdin not: ssh -n, so that a loop reading its input is not drained by ssh).
vm_exec() {
  local vm=$1 cmdline=$2 config
  config=$(ssh_config)
  ssh -n -F "$config" -o LogLevel=ERROR -o BatchMode=yes \
    -o ControlMaster=auto -o ControlPath="/tmp/sniffer-vm-lab-%C" -o ControlPersist=120 \
    "$vm" "sudo bash -c $(printf '%q' "$cmdline")"
}

list_scenarios() {
  local f
  for f in "$HERE"/scenarios/*.sh; do
    f=${f##*/}
    printf '%s ' "${f%.sh}"
  done
}

scenario_env() {
  cat <<EOF
export ATTACKER_EXEC="$SELF exec attacker"
export CLIENT_EXEC="$SELF exec client"
export DEFENDER_EXEC="$SELF exec defender"
export SENSOR_CTL="$SELF sensor"
export SNIFFER_ENDPOINT="ipc:///run/sniffer/lab.sock"
export DEFENDER_REPO="$GUEST_REPO"
export SNIFFER_PROTO_DIR="$GUEST_BUILD/proto"
export PCAP_DIR="$GUEST_PCAPS"
export LAB_NAME="vagrant lab"
EOF
}

command -v vagrant >/dev/null 2>&1 || die "vagrant not found (Debian: apt-get install vagrant; a provider: VirtualBox or vagrant-libvirt)"
[[ $# -ge 1 ]] || usage
case $1 in
  up)
    shift
    vg up "$@"
    rm -f "$SSH_CONFIG"
    ssh_config >/dev/null
    echo "$PROG: the lab is up; scenarios: $PROG run NAME ($(list_scenarios))"
    ;;
  down)
    vg destroy -f
    rm -f "$SSH_CONFIG"
    ;;
  status)
    vg status
    vm_exec defender "bash $GUEST_REPO/vagrant/prepare-gateway.sh --wan-net 198.51.100.0/24 --lan-net 192.0.2.0/24 --rename wan0 lan0 --check"
    vm_exec defender "bash $GUEST_REPO/vagrant/sensorctl.sh status"
    ;;
  provision)
    vg rsync
    vg provision
    ;;
  env) scenario_env ;;
  run)
    [[ $# -eq 2 ]] || usage
    script=$HERE/scenarios/$2.sh
    [[ -f $script ]] || die "no scenario '$2' (known: $(list_scenarios))"
    eval "$(scenario_env)"
    exec bash "$script"
    ;;
  sensor)
    case ${2:-} in
      start | status) vm_exec defender "bash $GUEST_REPO/vagrant/sensorctl.sh $2" ;;
      stop) vm_exec defender "bash $GUEST_REPO/vagrant/sensorctl.sh stop $(printf '%q' "${3:-}")" ;;
      *) usage ;;
    esac
    ;;
  exec)
    [[ $# -eq 3 ]] || usage
    [[ " ${VMS[*]} " == *" $2 "* ]] || die "exec: one of ${VMS[*]}, not '$2'"
    vm_exec "$2" "$3"
    ;;
  *) usage ;;
esac
