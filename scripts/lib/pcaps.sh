# shellcheck shell=bash
# Which capture corpus a script uses (sourced). The in-repository corpus, tests/data/pcaps,
# holds the captures that tests and lab scenarios name; runs over every capture use
# $SNIFFER_PCAPS if set, else ../shared/pcaps beside the repository if it exists, else the
# in-repository corpus. tests/e2e/corpus.py (pcap_corpus) applies the same rule.

# repo_pcaps REPO: prints the in-repository corpus of the checkout at REPO.
repo_pcaps() {
  printf '%s\n' "$1/tests/data/pcaps"
}

# pcap_corpus REPO: sets PCAP_CORPUS (the directory) and PCAP_CORPUS_FROM (why that one).
# shellcheck disable=SC2034  # both are read by the sourcing script
pcap_corpus() {
  if [[ -n ${SNIFFER_PCAPS:-} ]]; then
    PCAP_CORPUS=$SNIFFER_PCAPS
    PCAP_CORPUS_FROM=SNIFFER_PCAPS
  elif [[ -d $1/../shared/pcaps ]]; then
    PCAP_CORPUS=$(cd "$1/../shared/pcaps" && pwd)
    PCAP_CORPUS_FROM="../shared/pcaps beside the repository"
  else
    PCAP_CORPUS=$(repo_pcaps "$1")
    PCAP_CORPUS_FROM="in-repository corpus"
  fi
}

# pcap_files DIR: prints every capture file under DIR, NUL-terminated, sorted; extra
# arguments go to find (e.g. -size -64k).
pcap_files() {
  local dir=$1
  shift
  find "$dir" -type f "$@" \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) -print0 | sort -z
}
