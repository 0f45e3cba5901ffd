#!/usr/bin/env bash
# sanitize-e2e.sh: part of the e2e tier against a daemon and sniffer-sub built with
# AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer.
#
#   sudo scripts/sanitize-e2e.sh [TEST ...]     (default: the subset below)
#
# Builds sniffer, sniffer-sub and the Python protobuf module with clang and
# -DSNIFFER_SANITIZE=ON (ASan + UBSan, -fno-sanitize-recover: any UBSan report is fatal)
# into ./build-asan (SNIFFER_ASAN_BUILD_DIR), runs the e2e tests with SNIFFER_BUILD_DIR
# pointing there (not the flow table's RSS bound: ASan's quarantine keeps freed memory),
# then the offline path (--read-pcap) over the small captures of the corpus: $SNIFFER_PCAPS,
# else ../shared/pcaps beside the repository if it exists, else the in-repository
# tests/data/pcaps (scripts/lib/pcaps.sh). The tests stop the daemon with SIGTERM, so it leaves through its
# normal path and LeakSanitizer checks it at exit; a leak makes it exit 23, which the
# tests' Daemon.stop() reports as a failure. Independently of the tests' own checks,
# every sanitizer report of every instrumented process is written to
# build-asan/sanitizer-logs/report.PID (log_path): the run fails if any test fails or
# any report exists, and prints the reports.
#
# sniffer-sub leaves through its normal path (LeakSanitizer runs) on --count, --timeout,
# SIGINT and SIGTERM; it is also run here once with --timeout and no publisher
# (start-up and shutdown only).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
build=${SNIFFER_ASAN_BUILD_DIR:-build-asan}
[[ $build = /* ]] || build=$REPO/$build
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3
# The daemon's paths that matter for memory: both NICs and all hooks, the flow table to
# shutdown, both subscribers, reload (attach/detach while running), the metrics endpoint,
# the stats topic and systemd notify, ring-full and HWM overload, interface faults (netlink),
# CURVE and its ZAP handler, the blocklist's control socket, pins after SIGKILL, the
# clsact fallback, config errors, the unit's capabilities, a second start and failed
# starts (lock, socket files, pins), write errors, the metrics server against slow
# clients, full-packet captures (pcapng files, a full disk), kernel drop reasons (the
# tracepoint, drop records on flows in both aggregations), two workers on their threads
# (the shared publish socket, the report's reads under each worker's lock), and the gateway
# scenario (a real capture replayed live, with 64-byte payload snippets). Left out for time:
# the other lab scenarios and test_flow_reference (3 minutes of tshark); the offline path runs below.
default_tests=(
  tests/e2e/test_dual_nic.py
  tests/e2e/test_flows.py
  tests/e2e/test_kernel_flows.py
  tests/e2e/test_subscribers.py
  tests/e2e/test_reload.py
  tests/e2e/test_operations.py
  tests/e2e/test_overload.py
  tests/e2e/test_faults.py
  tests/e2e/test_curve.py
  tests/e2e/test_blocklist.py
  tests/e2e/test_pinning.py
  tests/e2e/test_attach_methods.py
  tests/e2e/test_daemon_errors.py
  tests/e2e/test_systemd_unit.py
  tests/e2e/test_single_instance.py
  tests/e2e/test_write_errors.py
  tests/e2e/test_metrics_slow_clients.py
  tests/e2e/test_capture.py
  tests/e2e/test_kernel_drops.py
  tests/e2e/test_workers.py
  "tests/e2e/test_lab_scenarios.py::test_scenario[gateway]"
)
# shellcheck source-path=SCRIPTDIR source=lib/pcaps.sh
source "$REPO/scripts/lib/pcaps.sh"
pcap_corpus "$REPO"
PCAPS=$PCAP_CORPUS
if (($# > 0)); then tests=("$@"); else tests=("${default_tests[@]}"); fi

[[ $EUID -eq 0 ]] || {
  echo "sanitize-e2e.sh: needs root (the e2e tier): sudo $0" >&2
  exit 2
}

start=$SECONDS
echo "sanitize-e2e.sh: building with clang, ASan + UBSan into $build"
# The same configuration as scripts/fuzz.sh's (which adds -DSNIFFER_FUZZ=ON), so that CI can
# share one build: SNIFFER_ASAN_BUILD_DIR=build-fuzz.
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSNIFFER_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target sniffer sniffer-sub sniffer_proto_python
for binary in sniffer sniffer-sub; do
  # grep -c reads all of nm's output (grep -q would end the pipe early: SIGPIPE, pipefail).
  [[ $(nm "$build/$binary" | grep -c __asan_init) -gt 0 ]] || {
    echo "sanitize-e2e.sh: $build/$binary is not instrumented (a stale CMake cache?)" >&2
    exit 2
  }
done

logs=$build/sanitizer-logs
rm -rf "$logs"
mkdir -p "$logs"
# Inherited by the daemon (ip netns exec keeps the environment) and by sniffer-sub.
# exitcode: a sanitizer finding ends the process with 23 (ASan, LSan) or aborts (UBSan).
# fast_unwind_on_malloc=0: full allocation stacks through libbpf and libxdp (built
# without frame pointers); one log_path for all three runtimes (they share it anyway).
export ASAN_OPTIONS="detect_leaks=1:log_path=$logs/report:exitcode=23:fast_unwind_on_malloc=0:malloc_context_size=20:detect_stack_use_after_return=1:check_initialization_order=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/report"
export LSAN_OPTIONS="log_path=$logs/report"

status=0
phase=$SECONDS
echo "sanitize-e2e.sh: built in $((phase - start))s; ${tests[*]}"
# Not under ASan: the flow table's RSS bound (ASan's quarantine holds freed memory), and
# the offline comparison of both flow modes over every capture (the loop below runs the
# kernel mode offline too).
# Two pytest processes at once, each on every other file (as scripts/test.sh runs ctest -j2:
# each file builds its own namespaces and pins); their output follows, one after the other.
halves=("" "")
for i in "${!tests[@]}"; do halves[i % 2]+="${tests[i]}"$'\n'; done
pids=()
for half in 0 1; do
  mapfile -t files <<<"${halves[half]%$'\n'}"
  [[ -n ${files[0]} ]] || continue
  SNIFFER_BUILD_DIR=$build "$PYTHON" -m pytest -p no:cacheprovider -q \
    -k "not test_table_memory_is_bounded and not test_offline_records_are_identical" \
    "${files[@]}" >"$build/pytest-$half.log" 2>&1 &
  pids+=("$!")
done
for half in "${!pids[@]}"; do
  wait "${pids[half]}" || status=$?
  cat "$build/pytest-$half.log"
done

echo "sanitize-e2e.sh: e2e tests took $((SECONDS - phase))s"
phase=$SECONDS

# Offline (--read-pcap, BPF_PROG_TEST_RUN, flows to CSV): every capture under 64 KiB (VLAN,
# tunnels, IPv6, fragments, malformed files: 39 of ../shared/pcaps, 31 of tests/data/pcaps), with
# flows aggregated in userspace and in the kernel, and two published with 512-byte payload
# snippets. Exit 1 is a damaged file (reported, not a failure here). No capture fails the run.
offline_runs=0
small=0
if [[ -d $PCAPS ]]; then
  for aggregation in userspace kernel; do
    printf '{"interfaces": [{"name": "pcap0", "role": "wan", "mode": "gateway"}], "pin_path": "",
    "capture": {"payload_bytes": 512}, "metrics": {"listen": ""}, "flows": {"aggregation": "%s"},
    "publish": {"endpoint": "ipc://%s/offline.sock"}}\n' "$aggregation" "$logs" >"$build/offline-$aggregation.json"
  done
  while IFS= read -r -d '' pcap; do
    for aggregation in userspace kernel; do
      rc=0
      "$build/sniffer" --config "$build/offline-$aggregation.json" --read-pcap "$pcap" \
        --write-csv "$build/offline.csv" >/dev/null 2>"$build/offline.err" || rc=$?
      offline_runs=$((offline_runs + 1))
      small=$((small + 1))
      if ((rc > 1)); then
        echo "sanitize-e2e.sh: --read-pcap $pcap ($aggregation): exit $rc: $(tail -2 "$build/offline.err")" >&2
        status=1
      fi
    done
  done < <(pcap_files "$PCAPS" -size -64k)
  for pcap in "$PCAPS/web/http_bro_org.pcap" "$PCAPS/mixed/honeynet_attack_trace.pcap"; do
    [[ -f $pcap ]] || continue
    "$build/sniffer" --config "$build/offline-userspace.json" --read-pcap "$pcap" >/dev/null 2>"$build/offline.err" || {
      echo "sanitize-e2e.sh: --read-pcap $pcap (published): exit $?: $(tail -2 "$build/offline.err")" >&2
      status=1
    }
    offline_runs=$((offline_runs + 1))
  done
  echo "sanitize-e2e.sh: $offline_runs offline runs (--read-pcap) from $PCAPS ($PCAP_CORPUS_FROM)" \
    "in $((SECONDS - phase))s"
fi
if ((small == 0)); then
  echo "sanitize-e2e.sh: no capture under 64 KiB in $PCAPS ($PCAP_CORPUS_FROM): offline runs missing" >&2
  status=1
fi

# sniffer-sub's own exit path (LeakSanitizer), with no publisher: connect, wait, exit 1
# ("nothing arrived"); any other code (a sanitizer's 23, an abort) fails the run.
sub_status=0
"$build/sniffer-sub" --connect "ipc://$logs/none.sock" --timeout 0.5 >/dev/null 2>&1 || sub_status=$?
if ((sub_status != 1)); then
  echo "sanitize-e2e.sh: sniffer-sub with no publisher exited $sub_status, expected 1 (nothing arrived)" >&2
  status=1
fi

reports=$(find "$logs" -type f -name 'report*' | sort)
if [[ -n $reports ]]; then
  status=1
  for report in $reports; do
    echo "==== $report"
    cat "$report"
  done
fi
elapsed=$((SECONDS - start))
if [[ $status -eq 0 ]]; then
  echo "sanitize-e2e.sh: PASS: no test failed, no sanitizer report (${elapsed}s)"
else
  echo "sanitize-e2e.sh: FAIL (${elapsed}s): $( [[ -n $reports ]] && echo "sanitizer reports above" || echo "a test or sniffer-sub failed")" >&2
fi
exit "$status"
