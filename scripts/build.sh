#!/usr/bin/env bash
# Configures and builds sniffer into ./build (or $SNIFFER_BUILD_DIR).
# Extra arguments go to cmake's configure step, e.g. -DSNIFFER_BUILD_TESTS=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${SNIFFER_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build "$build_dir" -j"$(nproc)"
