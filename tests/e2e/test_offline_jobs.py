"""--read-pcap -j N (issue 14): captures the user says are unrelated, shared out between N worker
processes, each file its own stream (as if run alone), into one table and one report.

The table must equal the single-file runs' tables concatenated in the order of the files, every
column alike but flow_id_num, which -j puts in a range of its own per file (i x 10^12 + 1 for the
i-th), so that ids stay unique; the report's counters must be the sums of the single runs'. A file
that breaks off keeps what was read of it (exit 1, as without -j). Standard input, publishing and
kernel flow aggregation are refused with -j, each with its reason.
"""
import csv
import json
import subprocess

from corpus import REPO_PCAPS

FILES = [REPO_PCAPS / f for f in ("web/http_bro_org.pcap", "dns/dnssec.pcap", "smb/smb3.pcap",
                                  "ipv6/ftp_ipv6.pcap", "malformed/file_cut_short_http_mime.pcap")]
FLOW_IDS_PER_FILE = 10**12


def run(env, tmp_path, name, args, config=None):
    config_path = tmp_path / f"{name}.json"
    config_path.write_text(json.dumps(config or {"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}]}))
    return subprocess.run([env.sniffer, "--config", config_path, *args], capture_output=True, text=True, timeout=120)


def rows(path):
    with open(path) as f:
        return list(csv.reader(f))


def test_jobs_give_the_single_runs_tables_one_after_the_other(env, tmp_path):
    expected, packets, flows = [], 0, 0
    for i, capture in enumerate(FILES):
        alone = run(env, tmp_path, f"alone{i}", ["--read-pcap", capture, "--write-csv", tmp_path / f"alone{i}.csv"])
        assert alone.returncode in (0, 1), alone.stderr
        report = json.loads(alone.stdout.splitlines()[-1])
        packets += report["pcap"]["packets_read"]
        flows += report["userspace"]["flows"]["created"]
        table = rows(tmp_path / f"alone{i}.csv")
        header, id_column = table[0], table[0].index("flow_id_num")
        for row in table[1:]:
            row[id_column] = str(i * FLOW_IDS_PER_FILE + int(row[id_column]))
            expected.append(row)
    assert len(expected) > 20

    done = run(env, tmp_path, "jobs", ["--read-pcap", *FILES, "-j", "2", "--write-csv", tmp_path / "jobs.csv"])
    assert done.returncode == 1, done.stderr  # the file cut short, as without -j
    table = rows(tmp_path / "jobs.csv")
    assert table[0] == header
    assert table[1:] == expected
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["pcap"]["jobs"] == 2 and report["pcap"]["files"] == len(FILES)
    assert report["pcap"]["packets_read"] == packets and report["userspace"]["flows"]["created"] == flows
    assert "file_cut_short_http_mime.pcap" in report["pcap"]["read_error"]
    assert f"{packets} packets from {len(FILES)} files" in done.stderr.splitlines()[-1]
    assert not list(tmp_path.glob("jobs.csv.part*")), "the workers' parts were left behind"


def test_jobs_refuse_what_cannot_be_shared_out(env, tmp_path):
    csv_out = ["--write-csv", tmp_path / "out.csv"]
    stdin = run(env, tmp_path, "stdin", ["--read-pcap", FILES[0], "-", "-j", "2", *csv_out])
    assert stdin.returncode == 1 and "standard input (-) cannot be shared out" in stdin.stderr, stdin.stderr
    published = run(env, tmp_path, "published", ["--read-pcap", *FILES[:2], "-j", "2"])
    assert published.returncode == 2 and "--write-csv" in published.stderr, published.stderr
    kernel = run(env, tmp_path, "kernel", ["--read-pcap", *FILES[:2], "-j", "2", *csv_out],
                 {"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}],
                  "flows": {"aggregation": "kernel"}})
    assert kernel.returncode == 1 and 'flows.aggregation "kernel"' in kernel.stderr, kernel.stderr
    assert not (tmp_path / "out.csv").exists()
