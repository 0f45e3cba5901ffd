#!/usr/bin/env bash
# Builds the Debian package sniffer_<version>_<arch>.deb from the build tree
# (./build or $SNIFFER_BUILD_DIR; configured and built first, which is quick
# when it is up to date) with CPack's DEB generator: packaging/CMakeLists.txt
# says what goes in. Prints the package's path.
#
#   scripts/package.sh [OUTPUT_DIR]      default: the build tree's package/
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${SNIFFER_BUILD_DIR:-build}
out_dir=$(realpath -m "${1:-$build_dir/package}")

for tool in help2man dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || { echo "package.sh: needs $tool (scripts/install-deps.sh)" >&2; exit 1; }
done
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" -j"$(nproc)" >&2
mkdir -p "$out_dir"
log=$(cd "$build_dir" && cpack -G DEB -B "$out_dir")
echo "$log" >&2
sed -n 's/^CPack: - package: \(.*\) generated\.$/\1/p' <<<"$log"
