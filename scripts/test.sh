#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs the unit, bpf and
# e2e tiers through ctest. The bpf and e2e tiers need root; without it they
# fail, unless SNIFFER_ALLOW_SKIP=1 says skipping them is acceptable.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -eq 0 ]]; then
  scripts/install-deps.sh
elif [[ ${SNIFFER_ALLOW_SKIP:-0} != 1 ]]; then
  echo "test.sh: the bpf and e2e tiers need root: run 'sudo $0' (or SNIFFER_ALLOW_SKIP=1 to skip them)" >&2
  exit 1
fi

scripts/build.sh -DSNIFFER_BUILD_TESTS=ON
# bpffs is not needed by the tests, but mount it if absent so tools work.
mountpoint -q /sys/fs/bpf 2>/dev/null || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true

# Which captures the corpus-wide tests read (their own output says it too, with -V).
# shellcheck source-path=SCRIPTDIR source=lib/pcaps.sh
source scripts/lib/pcaps.sh
pcap_corpus "$PWD"
echo "test.sh: capture corpus: $PCAP_CORPUS ($PCAP_CORPUS_FROM), $(pcap_files "$PCAP_CORPUS" | tr -cd '\0' | wc -c) captures"

build_dir=${SNIFFER_BUILD_DIR:-build}
cd "$build_dir"
# Two tests at a time (SNIFFER_TEST_JOBS): the e2e files spend most of their time
# waiting on the network and the daemon; the bpf tier runs alone (RUN_SERIAL).
ctest --output-on-failure --timeout 900 -j "${SNIFFER_TEST_JOBS:-2}" "$@"
