"""The capture corpora of the e2e tier. A test that names a capture reads it from the
in-repository corpus, REPO_PCAPS (always there). The corpus-wide tests run on PCAPS, from
pcap_corpus(): $SNIFFER_PCAPS, else the larger shared corpus beside the repository if it
exists, else the in-repository one (tests/data/pcaps/README.md). scripts/lib/pcaps.sh applies
the same rule in bash."""
import os
from pathlib import Path

import pytest

from e2e_support import REPO_ROOT

REPO_PCAPS = REPO_ROOT / "tests" / "data" / "pcaps"
SHARED_PCAPS = REPO_ROOT.parent / "shared" / "pcaps"


def pcap_corpus():
    """(directory, how it was chosen) of the corpus the corpus-wide tests run on."""
    if os.environ.get("SNIFFER_PCAPS"):
        return Path(os.environ["SNIFFER_PCAPS"]).resolve(), "SNIFFER_PCAPS"
    if SHARED_PCAPS.is_dir():
        return SHARED_PCAPS.resolve(), "../shared/pcaps beside the repository"
    return REPO_PCAPS, "in-repository corpus"


PCAPS = pcap_corpus()[0]


def listed_captures():
    """Every capture of the corpus's manifest that is present, as its path under PCAPS (category/name)."""
    manifest = PCAPS / "MANIFEST.tsv"
    if not manifest.exists():
        return []
    out = []
    for line in manifest.read_text().splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) > 1 and (PCAPS / fields[1]).is_file():
            out.append(fields[1])
    return out


def captures():
    """listed_captures() for a corpus-wide test: none at all fails the test (comparing
    nothing must not pass)."""
    out = listed_captures()
    if not out:
        pytest.fail(f"no captures listed in {PCAPS / 'MANIFEST.tsv'} (SNIFFER_PCAPS: a directory with a "
                    "MANIFEST.tsv like tests/data/pcaps/)", pytrace=False)
    return out


def corpus_line():
    """Which corpus the corpus-wide tests run on, and how many captures: printed in the
    header of every e2e run (conftest.py) and in the corpus-wide tests' reports."""
    how = pcap_corpus()[1]
    return f"capture corpus: {PCAPS} ({how}), {len(listed_captures())} captures"
