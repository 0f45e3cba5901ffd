#!/usr/bin/env bash
# Prints a SHA-256 of the offline flow CSV (rows sorted) of every capture, in both aggregation
# modes, one line each ("MODE DIGEST CAPTURE"), then one digest of them all: a
# refactoring that must not change behaviour compares this output before and after.
#
#   scripts/offline-digests.sh [SNIFFER_BINARY] > digests.txt      (as root)
#
# Captures: $SNIFFER_PCAPS (default ../shared/pcaps beside the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-build/sniffer}
pcaps=${SNIFFER_PCAPS:-../shared/pcaps}
[[ -x $binary ]] || { echo "offline-digests.sh: $binary is not built" >&2; exit 1; }
[[ -d $pcaps ]] || { echo "offline-digests.sh: no captures at $pcaps (set SNIFFER_PCAPS)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for mode in userspace kernel; do
  printf '{"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}], "flows": {"aggregation": "%s"}}\n' \
    "$mode" >"$work/$mode.json"
done
while IFS= read -r capture; do
  for mode in userspace kernel; do
    # Exit 1 with a read error (a capture cut short) still writes the table.
    "$binary" --config "$work/$mode.json" --read-pcap "$capture" --write-csv "$work/flows.csv" \
      >/dev/null 2>"$work/stderr" || grep -q "read error" "$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
    # The header, then the rows sorted: with kernel aggregation the order in which
    # the sweep finds ended flows in the hash map varies from run to run.
    digest=$({ head -n 1 "$work/flows.csv"; tail -n +2 "$work/flows.csv" | LC_ALL=C sort; } | sha256sum | cut -d' ' -f1)
    printf '%s %s %s\n' "$mode" "$digest" "${capture#"$pcaps"/}"
  done
done < <(find "$pcaps" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) | sort) | tee "$work/all"
echo "all $(sha256sum <"$work/all" | cut -d' ' -f1) $(wc -l <"$work/all") tables"
