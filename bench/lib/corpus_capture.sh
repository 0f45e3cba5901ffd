# shellcheck shell=bash
# Sourced by bench/offline.sh: one large capture made of copies of the in-repository captures.
#
# corpus_capture DIR PACKETS: prints the path of DIR/corpus-<N>x-<digest>.pcap, building it first if
# it is missing or older than a capture of tests/data/pcaps. N copies of the corpus, N the least for at
# least PACKETS packets. Classic pcap (every tool here reads it), Ethernet.
#
# Every capture of tests/data/pcaps is used but the two broken on purpose (MANIFEST.tsv notes
# "FILE-LEVEL": a reader stops in them) and malformed/arp_oobr.pcap (a fuzzer input that makes
# argus 3.0.8 abort with "free(): invalid pointer"; every tool gets the same capture).
# Each is shifted with `editcap -t` to start at the beginning of its own slot of SLOT seconds; the N
# copies of that set follow each other, copy c shifted by c x (captures x SLOT); `mergecap` sorts
# it all by time into one file. Addresses stay the same, so what keeps flows apart is time. SLOT:
# the longest capture lasts 4,336 s (smb/smb1_osx) and the longest idle timeout of the tools
# (softflowd's tcp and general, 3,600 s; sniffer's default is 120 s) fits after it, so no flow of a
# slot is still open when the next starts (in the tools that end flows by the capture's clock:
# softflowd -r does not, bench/README.md), and copies are days apart. A slot per capture (not
# one slot per copy), because some captures hold the same session at the same instants
# (vlan/http_vlan, http_qinq, vlan_qinqinq: one HTTP exchange under different tags): unshifted,
# the tools that ignore the tags would merge them. Two captures are collections of sessions
# recorded years apart (dns/dns_edns_ecs spans 3 years, vlan/mixed_vlan_mpls 10): only their
# first session is in their slot, the later ones land after the last copy (the file stays below
# 2^31 s), each copy's still (captures x SLOT) from the next copy's. First slot: 2017-07-14
# (1,500,000,000 s).
CORPUS_SLOT_S=8000
CORPUS_SKIP=malformed/arp_oobr.pcap
CORPUS_T0=1500000000

# corpus_rows PCAPS: the MANIFEST.tsv rows of the captures used.
corpus_rows() {
  awk -F'\t' -v skip="$CORPUS_SKIP" 'NR > 1 && $10 !~ /FILE-LEVEL/ && $2 != skip' "$1/MANIFEST.tsv"
}

corpus_capture() {
  local dir=$1 want=$2 pcaps="$ROOT/tests/data/pcaps"
  local -a files
  mapfile -t files < <(corpus_rows "$pcaps" | cut -f2)
  local per_copy copies out
  per_copy=$(corpus_rows "$pcaps" | awk -F'\t' '{ n += $3 } END { print n }')
  copies=$(((want + per_copy - 1) / per_copy))
  # The name says what went into it: the copies, and a digest of the captures' list and the slots.
  out=$dir/corpus-${copies}x-$(printf '%s\n' "${files[@]}" "$CORPUS_SLOT_S $CORPUS_T0" | md5sum | cut -c1-8).pcap
  if [[ -s $out && -z $(find "$pcaps" -name '*.pcap' -newer "$out" -print -quit) ]]; then
    echo "$out"
    return
  fi
  mkdir -p "$dir"
  local tmp i=0 first
  tmp=$(mktemp -d "$dir/build.XXXX")
  for f in "${files[@]}"; do
    first=$(capinfos -T -r -a -S "$pcaps/$f" | cut -f2)  # earliest packet time, s.us
    editcap -F pcap -t $((CORPUS_T0 + i * CORPUS_SLOT_S - ${first%.*})) "$pcaps/$f" "$tmp/f$i.pcap"
    i=$((i + 1))
  done
  mergecap -F pcap -w "$tmp/copy0.pcap" "$tmp"/f*.pcap
  rm -f "$tmp"/f*.pcap
  for ((c = 1; c < copies; c++)); do
    editcap -F pcap -t $((c * ${#files[@]} * CORPUS_SLOT_S)) "$tmp/copy0.pcap" "$tmp/copy$c.pcap"
  done
  mergecap -F pcap -w "$tmp/all.pcap" "$tmp"/copy*.pcap
  mv "$tmp/all.pcap" "$out"
  rm -rf "$tmp"
  echo "$out"
}

# long_capture DIR PACKETS: prints the path of DIR/long-<N>x.pcap, built if missing: N copies of
# web/http_bro_org.pcap (751 packets in 13 TCP flows, ~58 packets a flow: long flows, where the
# per-packet cost dominates; the corpus capture above has ~3.3 packets a flow, where the per-flow
# cost does), for at least PACKETS packets. Copies are built in tiers of at most ten (so that no
# mergecap opens more than ten files): N is a power of ten times the last tier's count, each copy
# CORPUS_SLOT_S after the last.
long_capture() {
  local dir=$1 want=$2 src="$ROOT/tests/data/pcaps/web/http_bro_org.pcap"
  local per_copy copies out
  per_copy=$(capinfos -T -r -c "$src" | cut -f2)
  copies=$(((want + per_copy - 1) / per_copy))
  local -a tiers=()
  local planned=1
  while ((planned < copies)); do
    tiers+=($((copies / planned >= 10 ? 10 : (copies + planned - 1) / planned)))
    planned=$((planned * ${tiers[-1]}))
  done
  out=$dir/long-${planned}x.pcap
  if [[ -s $out && ! $src -nt $out ]]; then
    echo "$out"
    return
  fi
  mkdir -p "$dir"
  local tmp span=$CORPUS_SLOT_S k n
  tmp=$(mktemp -d "$dir/build.XXXX")
  editcap -F pcap "$src" "$tmp/set.pcap"
  for n in "${tiers[@]}"; do
    for ((k = 0; k < n; k++)); do editcap -F pcap -t $((k * span)) "$tmp/set.pcap" "$tmp/part$k.pcap"; done
    mergecap -F pcap -w "$tmp/next.pcap" "$tmp"/part*.pcap
    rm -f "$tmp"/part*.pcap
    mv "$tmp/next.pcap" "$tmp/set.pcap"
    span=$((span * n))
  done
  mv "$tmp/set.pcap" "$out"
  rm -rf "$tmp"
  echo "$out"
}
