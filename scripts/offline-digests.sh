#!/usr/bin/env bash
# Prints a SHA-256 of the offline flow CSV (rows sorted) of every capture, in both aggregation
# modes, one line each ("MODE DIGEST CAPTURE"), then one digest of them all: a
# refactoring that must not change behaviour compares this output before and after.
#
#   scripts/offline-digests.sh [SNIFFER_BINARY] > digests.txt      (as root)
#
# Captures: $SNIFFER_PCAPS, else ../shared/pcaps beside the repository if it exists, else the
# in-repository tests/data/pcaps (scripts/lib/pcaps.sh); named on standard error.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR source=lib/pcaps.sh
source scripts/lib/pcaps.sh
binary=${1:-build/sniffer}
pcap_corpus "$PWD"
pcaps=$PCAP_CORPUS
[[ -x $binary ]] || { echo "offline-digests.sh: $binary is not built" >&2; exit 1; }
count=$(pcap_files "$pcaps" 2>/dev/null | tr -cd '\0' | wc -c)
((count > 0)) || { echo "offline-digests.sh: no captures at $pcaps ($PCAP_CORPUS_FROM)" >&2; exit 1; }
echo "offline-digests.sh: $count captures in $pcaps ($PCAP_CORPUS_FROM)" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for mode in userspace kernel; do
  printf '{"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}], "flows": {"aggregation": "%s"}}\n' \
    "$mode" >"$work/$mode.json"
done
while IFS= read -r -d '' capture; do
  for mode in userspace kernel; do
    # Exit 1 with a read error (a capture cut short) still writes the table.
    "$binary" --config "$work/$mode.json" --read-pcap "$capture" --write-csv "$work/flows.csv" \
      >/dev/null 2>"$work/stderr" || grep -q "read error" "$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
    # The header, then the rows sorted: with kernel aggregation the order in which
    # the sweep finds ended flows in the hash map varies from run to run.
    digest=$({ head -n 1 "$work/flows.csv"; tail -n +2 "$work/flows.csv" | LC_ALL=C sort; } | sha256sum | cut -d' ' -f1)
    printf '%s %s %s\n' "$mode" "$digest" "${capture#"$pcaps"/}"
  done
done < <(pcap_files "$pcaps") | tee "$work/all"
echo "all $(sha256sum <"$work/all" | cut -d' ' -f1) $(wc -l <"$work/all") tables"
