#!/usr/bin/env bash
# Installs every Debian 12 package sniffer needs to build, test and run its
# lab. Idempotent; needs root.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps.sh: run as root (sudo $0)" >&2
  exit 1
fi

packages=(
  # build
  build-essential ccache cmake pkg-config clang llvm bpftool libbpf-dev libxdp-dev libelf-dev zlib1g-dev
  protobuf-compiler libprotobuf-dev libzmq3-dev cppzmq-dev nlohmann-json3-dev libspdlog-dev libcli11-dev
  libgtest-dev libpcap-dev libsystemd-dev libssl-dev universal-ctags
  # the Debian package (scripts/package.sh) and its test
  dpkg-dev help2man lintian
  # run, lab and tests
  iproute2 ethtool iputils-ping netcat-openbsd python3 python3-zmq python3-protobuf python3-pytest
  shellcheck tshark tcpreplay hping3 iperf3 nftables strace
  # the Vagrant lab (validated in CI; booting VMs needs a provider)
  vagrant ruby
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps.sh: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
