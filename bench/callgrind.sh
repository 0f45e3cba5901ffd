#!/bin/bash
# Instructions per record (noise-free): callgrind runs micro_user --fixed with N1 and N2
# records through decode -> RecordProcessor -> flow table -> protobuf -> ZeroMQ (inproc, a SUB
# thread reading); (Ir(N2) - Ir(N1)) / (N2 - N1) cancels start-up and shutdown. All threads
# count (the ZeroMQ I/O and the subscriber's recv too).
set -euo pipefail
BIN=${BIN:-$(dirname "$0")/build/bench/micro_user}
N1=${N1:-20000}; N2=${N2:-120000}; SNIPPET=${SNIPPET:-0}  # SNIPPET=64: lab.json's payload snippet in every event
ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" --fixed "$1" "$SNIPPET" 2>&1 |
       awk '/Collected :/ {print $4}'; }
a=$(ir "$N1"); b=$(ir "$N2")
echo "callgrind: Ir($N1)=$a Ir($N2)=$b  => $(( (b - a) / (N2 - N1) )) instructions per record (full pipeline, 1000 flows, $SNIPPET B snippets)"
