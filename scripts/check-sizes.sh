#!/usr/bin/env bash
# The size rules of issue 13: no source file over 400 lines, no function over
# 80, in src/, bpf/ and include/ (C and C++). Prints one line per item that
# breaks them: "PATH: N lines, over 400" or "PATH:FUNCTION: N lines, over 80"
# (a function's length from universal-ctags' end: field).
#
#   scripts/check-sizes.sh                       lists the items; exit 0
#   scripts/check-sizes.sh --allowlist FILE      exit 1 if an item is not in FILE, or FILE
#                                                lists one that keeps the rules now
#
# FILE: one item a line, "PATH" or "PATH:FUNCTION", then blanks and the reason;
# '#' starts a comment. A listed item is reported as allowed, not as a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
readonly max_file_lines=400 max_function_lines=80

allowlist=
if (($# == 2)) && [[ $1 == --allowlist ]]; then
  allowlist=$2
  [[ -r $allowlist ]] || { echo "check-sizes.sh: cannot read $allowlist" >&2; exit 2; }
elif (($# != 0)); then
  echo "usage: scripts/check-sizes.sh [--allowlist FILE]" >&2
  exit 2
fi
if ! ctags --version 2>/dev/null | grep -q "Universal Ctags"; then
  echo "check-sizes.sh: needs universal-ctags (scripts/install-deps.sh installs it)" >&2
  exit 2
fi

mapfile -t sources < <(find src bpf include -type f \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' \) |
                         LC_ALL=C sort)
# "ITEM<TAB>N lines, over MAX", files first, then functions.
items=$(
  wc -l "${sources[@]}" | awk -v max="$max_file_lines" '$2 != "total" && $1 > max { printf "%s\t%d lines, over %d\n", $2, $1, max }'
  ctags --fields=+ne --kinds-c++=f --kinds-c=f -o - "${sources[@]}" |
    awk -F'\t' -v max="$max_function_lines" '{
      s = ""; e = ""
      for (i = 4; i <= NF; i++) { if ($i ~ /^line:/) s = substr($i, 6); if ($i ~ /^end:/) e = substr($i, 5) }
      if (e != "" && e - s + 1 > max) printf "%s:%s\t%d lines, over %d\n", $2, $1, e - s + 1, max
    }' | LC_ALL=C sort -u
)

declare -A allowed=()
if [[ -n $allowlist ]]; then
  while read -r item _; do
    [[ -z $item || $item == \#* ]] && continue
    allowed[$item]=1
  done <"$allowlist"
fi

failed=0
declare -A seen=()
while IFS=$'\t' read -r item size; do
  [[ -z $item ]] && continue
  seen[$item]=1
  if [[ -n ${allowed[$item]:-} ]]; then
    echo "allowed: $item: $size"
  else
    echo "$item: $size"
    [[ -n $allowlist ]] && failed=1
  fi
done <<<"$items"
for item in "${!allowed[@]}"; do
  if [[ -z ${seen[$item]:-} ]]; then
    echo "$allowlist: $item keeps the rules now: remove it from the list"
    failed=1
  fi
done
exit "$failed"
