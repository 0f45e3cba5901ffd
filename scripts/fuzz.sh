#!/usr/bin/env bash
# Builds with clang + libFuzzer + ASan + UBSan into ./build-fuzz, runs the unit
# tier under the sanitizers, then each fuzz target for SECONDS (default 60)
# from the committed seed corpus (tests/fuzz/corpus/TARGET; fuzz_pcap also from the real
# captures under 64 KiB of the in-repository corpus, tests/data/pcaps). A crash, a
# sanitizer report or a leak fails the run; the input is kept as
# build-fuzz/crash-TARGET-*. Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build=${SNIFFER_FUZZ_BUILD_DIR:-build-fuzz}
targets=(config record flow pcap pcapng)

CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSNIFFER_FUZZ=ON \
  -DSNIFFER_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target sniffer_unit_tests "${targets[@]/#/fuzz_}"

echo "fuzz.sh: unit tier under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1 "$build/tests/sniffer_unit_tests" --gtest_brief=1

for target in "${targets[@]}"; do
  work=$(mktemp -d)
  echo "fuzz.sh: fuzz_$target for ${seconds}s"
  # New inputs go to the temporary first corpus; the committed seeds stay as they are.
  if [[ $target == pcap ]]; then
    find tests/data/pcaps -type f -name '*.pcap' -size -64k -exec cp -t "$work" {} +
  fi
  status=0
  ASAN_OPTIONS=detect_leaks=1 "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$build/crash-$target-" "$work" "tests/fuzz/corpus/$target" >"$work.log" 2>&1 || status=$?
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|Done)" "$work.log" || true
  [[ $status -eq 0 ]] || tail -40 "$work.log" >&2
  rm -rf "$work" "$work.log"
  if [[ $status -ne 0 ]]; then
    echo "fuzz.sh: fuzz_$target failed (exit $status); reproducer: $build/crash-$target-*" >&2
    exit 1
  fi
done
echo "fuzz.sh: all targets ran ${seconds}s without a finding"
