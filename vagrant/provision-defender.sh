#!/usr/bin/env bash
# provision-defender.sh: the Vagrant lab's defender VM, the sensor on a dual-NIC gateway.
# Run by the Vagrantfile as root, from the synced repository (/vagrant):
#
#   provision-defender.sh setup     once: packages, build, install
#   provision-defender.sh gateway   on every "vagrant up"/"reload"/"provision": prepares the
#                                   gateway and (re)starts the sensor
#
# setup
#   - scripts/install-deps.sh (every package the project builds, tests and runs with);
#   - builds from the synced folder with scripts/build.sh into /opt/sniffer/build (not into
#     the synced folder: "vagrant rsync" would fight over it), tests off;
#   - installs /usr/local/bin/sniffer and sniffer-sub, and config/lab.json unchanged as
#     /etc/sniffer/lab.json (interfaces wan0 and lan0, endpoint ipc:///run/sniffer/lab.sock);
#   - the systemd unit: if the repository has config/sniffer.service, installs it as
#     /etc/systemd/system/sniffer.service plus a drop-in (sniffer.service.d/lab.conf) that
#     points ExecStart at the lab config and sets RuntimeDirectory=sniffer. It is not
#     enabled at boot: the NIC names it needs (wan0, lan0) exist only after the "gateway"
#     step, which starts it. Without config/sniffer.service, nothing is installed and
#     vagrant/sensorctl.sh runs the daemon as a transient unit of the same name
#     (systemd-run), with the same command line and runtime directory.
# gateway
#   - vagrant/prepare-gateway.sh --wan-net 198.51.100.0/24 --lan-net 192.0.2.0/24
#     --rename wan0 lan0: the NICs found by the network Vagrant put them on, renamed for
#     config/lab.json; forwarding, rp_filter, redirects, offloads, promiscuous mode;
#   - the lab's IPv6 addresses (2001:db8:100::1/64 on wan0, 2001:db8:200::1/64 on lan0) and
#     permanent neighbour entries for the attacker and the client (their MACs are fixed by the
#     Vagrantfile), as scripts/lab-env.sh sets them for the namespace lab;
#   - vagrant/sensorctl.sh start.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PROVISION_NAME=provision-defender
# shellcheck source-path=SCRIPTDIR source=provision-common.sh
source "$HERE/provision-common.sh"
BUILD_DIR=/opt/sniffer/build

setup() {
  [[ -f $REPO/CMakeLists.txt ]] || die "$REPO is not the sniffer repository (is the synced folder there?)"
  "$REPO/scripts/install-deps.sh"
  # The scenarios' extra tools on the defender: ss (iproute2) is there; nothing else.
  log "building into $BUILD_DIR"
  mkdir -p "$(dirname "$BUILD_DIR")"
  SNIFFER_BUILD_DIR=$BUILD_DIR "$REPO/scripts/build.sh" -DSNIFFER_BUILD_TESTS=OFF
  install -m 0755 "$BUILD_DIR/sniffer" "$BUILD_DIR/sniffer-sub" /usr/local/bin/
  install -d -m 0755 /etc/sniffer
  install -m 0644 "$REPO/config/lab.json" /etc/sniffer/lab.json
  if [[ -f $REPO/config/sniffer.service ]]; then
    log "installing config/sniffer.service as sniffer.service, with the lab config (drop-in lab.conf)"
    # The unit's user, as the Debian package's postinst creates it.
    id sniffer >/dev/null 2>&1 || adduser --system --group --quiet --home /nonexistent --no-create-home sniffer
    install -m 0644 "$REPO/config/sniffer.service" /etc/systemd/system/sniffer.service
    install -d -m 0755 /etc/systemd/system/sniffer.service.d
    cat >/etc/systemd/system/sniffer.service.d/lab.conf <<'EOF'
# Written by vagrant/provision-defender.sh: the lab's config, pin and runtime directories.
[Service]
ExecStartPre=
ExecStartPre=+/usr/bin/install -d -o sniffer -g sniffer -m 0700 /sys/fs/bpf/sniffer-lab
ExecStart=
ExecStart=/usr/local/bin/sniffer --config /etc/sniffer/lab.json
RuntimeDirectory=
RuntimeDirectory=sniffer
EOF
    systemctl daemon-reload
    systemctl disable sniffer.service >/dev/null 2>&1 || true # started by the gateway step
  else
    log "config/sniffer.service is not in the repository: vagrant/sensorctl.sh runs the sensor as a transient unit (systemd-run)"
  fi
  log "setup done: $(/usr/local/bin/sniffer --version | head -n 1)"
}

gateway() {
  bash "$HERE/prepare-gateway.sh" --wan-net "$LAB_WAN_NET" --lan-net "$LAB_LAN_NET" --rename wan0 lan0 --print
  ipv6_addr wan0 "$LAB_DEFENDER_WAN6/64"
  ipv6_addr lan0 "$LAB_DEFENDER_LAN6/64"
  neighbour wan0 "$LAB_ATTACKER" "$LAB_MAC_ATTACKER"
  neighbour wan0 "$LAB_ATTACKER6" "$LAB_MAC_ATTACKER"
  neighbour lan0 "$LAB_CLIENT" "$LAB_MAC_CLIENT"
  neighbour lan0 "$LAB_CLIENT6" "$LAB_MAC_CLIENT"
  bash "$HERE/sensorctl.sh" start
}

[[ $EUID -eq 0 ]] || die "must run as root"
case ${1:-} in
  setup) setup ;;
  gateway) gateway ;;
  *)
    echo "usage: $0 setup | gateway" >&2
    exit 2
    ;;
esac
