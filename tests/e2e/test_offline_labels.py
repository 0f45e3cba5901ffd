"""--labels RULES (issue 14): one command turns a capture into a labelled training table.

The rules name real flows of the in-repository captures: their addresses, ports and start times
are taken from the rows of the same run without --labels, never guessed. The labelled table must
be the unlabelled one, row for row, with a last column Label: exactly the rows the rules name carry
their label (the first matching rule's), every other row BENIGN. A bad rules file fails before a
packet is read, naming the file, the rule and the field.
"""
import csv
import ipaddress
import json
import subprocess
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from corpus import REPO_PCAPS
from flow_support import AGGREGATION_MODES

# IPv4 TCP (13 flows of a web session), IPv6 (an FTP session) and IPv4 UDP (3 DNS queries), merged
# into one table.
CAPTURES = [REPO_PCAPS / "web" / "http_bro_org.pcap", REPO_PCAPS / "ipv6" / "ftp_ipv6.pcap",
            REPO_PCAPS / "dns" / "dnssec.pcap"]
FIELDS = ["start", "end", "src", "dst", "src_port", "dst_port", "protocol", "direction", "label"]


def run_offline(env, tmp_path, name, labels=None, aggregation="userspace"):
    """(header, rows) of the CSV of one --read-pcap run of CAPTURES that succeeded."""
    config = tmp_path / f"{aggregation}.json"
    config.write_text(json.dumps({"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}],
                                  "flows": {"aggregation": aggregation}}))
    out = tmp_path / f"{name}.csv"
    cmd = [env.sniffer, "--config", config, "--read-pcap", *CAPTURES, "--write-csv", out]
    if labels:
        cmd += ["--labels", labels]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def rfc3339(ns, hours):
    """ns since the epoch as RFC 3339 at a UTC offset of `hours`, to the nanosecond."""
    zone = timezone(timedelta(hours=hours))
    whole = datetime.fromtimestamp(ns // 1_000_000_000, zone).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{ns % 1_000_000_000:09d}{'+' if hours >= 0 else '-'}{abs(hours):02d}:00"


class Flow:
    """One row of the unlabelled table, by the fields the rules match on."""

    def __init__(self, header, row):
        cell = dict(zip(header, row))
        self.src, self.dst = ipaddress.ip_address(cell["Source IP"]), ipaddress.ip_address(cell["Destination IP"])
        self.sport, self.dport = int(cell["Source Port"]), int(cell["Destination Port"])
        self.proto, self.start_ns = int(cell["Protocol"]), int(cell["start_ns"])

    def ends(self):
        return {(self.src, self.sport), (self.dst, self.dport)}


def rules_and_expected(header, rows):
    """Rules naming flows of the unlabelled table, and the label each row must then get."""
    flows = [Flow(header, row) for row in rows]
    tcp4 = [f for f in flows if f.proto == 6 and f.src.version == 4]
    v6 = [f for f in flows if f.src.version == 6]
    assert len(tcp4) >= 3 and v6, "the captures no longer hold the flows this test labels"
    a = tcp4[0]
    b = next(f for f in tcp4 if f.ends() != a.ends())
    v6_net = ipaddress.ip_network(f"{v6[0].src}/64", strict=False)
    rules = [
        # One flow, by its whole 5-tuple and a 1 ns window at its start (RFC 3339 at +02:00, epoch).
        {"start": rfc3339(a.start_ns, 2), "end": f"{(a.start_ns + 1) // 10**9}.{(a.start_ns + 1) % 10**9:09d}",
         "src": f"{a.src}/32", "dst": str(a.dst), "src_port": str(a.sport), "dst_port": str(a.dport),
         "protocol": "tcp", "label": "Exact"},
        # b written responder first: forward only, it matches nothing; "either" matches b.
        {"src": str(b.dst), "dst": str(b.src), "src_port": str(b.dport), "dst_port": str(b.sport),
         "label": "Never"},
        {"src": str(b.dst), "dst": str(b.src), "src_port": str(b.dport), "dst_port": str(b.sport),
         "direction": "either", "label": "Reversed"},
        # An IPv6 /64, either end.
        {"src": str(v6_net), "direction": "either", "label": "IPv6 host"},
        # Every TCP flow to a's server port: a and b keep the earlier rules' labels.
        {"dst_port": f"{a.dport}-{a.dport}", "protocol": "6", "label": "Web"},
    ]

    def expected(f):
        if (f.src, f.dst, f.sport, f.dport, f.proto, f.start_ns) == (a.src, a.dst, a.sport, a.dport, 6, a.start_ns):
            return "Exact"
        if f.ends() == b.ends():
            return "Reversed"
        if f.src in v6_net or f.dst in v6_net:
            return "IPv6 host"
        if f.proto == 6 and f.dport == a.dport:
            return "Web"
        return "BENIGN"

    return rules, [expected(f) for f in flows]


def write_rules(tmp_path, rules):
    """The rules as a CSV file and as a JSON file."""
    csv_path, json_path = tmp_path / "rules.csv", tmp_path / "rules.json"
    with open(csv_path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(FIELDS)
        for rule in rules:
            out.writerow([rule.get(field, "") for field in FIELDS])
    json_path.write_text(json.dumps({"rules": rules}, indent=2))
    return csv_path, json_path


@pytest.mark.parametrize("aggregation", AGGREGATION_MODES)
def test_rules_label_exactly_the_flows_they_name(env, tmp_path, aggregation):
    """Labels are given where a flow record is written, in either aggregation mode."""
    header, rows = run_offline(env, tmp_path, "plain", aggregation=aggregation)
    assert header[-1] != "Label"
    rules, expected = rules_and_expected(header, rows)
    csv_rules, json_rules = write_rules(tmp_path, rules)

    # Rows are compared whole, as a multiset: kernel aggregation ends flows in the flow map's order.
    expected_of = {tuple(row): label for row, label in zip(rows, expected)}
    assert len(expected_of) == len(rows), "rows are unique (flow_id_num)"
    labelled_header, labelled = run_offline(env, tmp_path, "labelled", csv_rules, aggregation)
    assert labelled_header == header + ["Label"]
    assert len(labelled) == len(rows)
    assert Counter(tuple(row[:-1]) for row in labelled) == Counter(tuple(row) for row in rows), \
        "the other columns must not change"
    wrong = [(row[0], row[-1], expected_of[tuple(row[:-1])]) for row in labelled
             if row[-1] != expected_of[tuple(row[:-1])]]
    assert not wrong, wrong
    counts = Counter(row[-1] for row in labelled)
    for label in ("Exact", "Reversed", "IPv6 host", "Web", "BENIGN"):
        assert counts[label] > 0, counts
    assert counts["Exact"] == 1 and counts["Never"] == 0, counts

    # The JSON form of the same rules gives the same table.
    _, from_json = run_offline(env, tmp_path, "labelled_json", json_rules, aggregation)
    assert sorted(from_json) == sorted(labelled)


def test_published_flow_records_carry_the_label(env, tmp_path):
    """FlowRecord.label: filled with --labels, shown by sniffer-sub."""
    header, rows = run_offline(env, tmp_path, "plain")
    rules, expected = rules_and_expected(header, rows)
    _, json_rules = write_rules(tmp_path, rules)
    endpoint = f"ipc://{tmp_path}/offline.sock"
    config = tmp_path / "publish.json"
    config.write_text(json.dumps({"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}],
                                  "publish": {"endpoint": endpoint, "packet_events": False}}))
    out_path = tmp_path / "sub.out"
    with open(out_path, "w") as out:
        sub = subprocess.Popen([env.sniffer_sub, "--connect", endpoint, "--topic", "flow", "--count", str(len(rows)),
                                "--timeout", "30"], stdout=out, stderr=subprocess.PIPE, text=True)
        try:
            done = subprocess.run([env.sniffer, "--config", config, "--read-pcap", *CAPTURES, "--labels", json_rules,
                                   "--wait-subscriber", "10"], capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            assert sub.wait(30) == 0, sub.stderr.read()
        finally:
            if sub.poll() is None:
                sub.kill()
    records = [json.loads(line) for line in out_path.read_text().splitlines()]
    assert Counter(r["label"] for r in records) == Counter(expected)


def test_a_bad_rules_file_fails_before_a_packet_is_read(env, tmp_path):
    """Every problem, each naming the file, the rule and the field; exit 1, no table, no report.
    The capture is standard input, held open: reading it first would hang the daemon."""
    rules = tmp_path / "bad.json"
    rules.write_text(json.dumps({"rules": [
        {"src": "192.0.2.0/24", "label": "ok"},
        {"src": "192.0.2.300/24", "label": "bad prefix"},
        {"dst_port": 70000, "srcport": 80, "label": "two problems"},
        {"start": "2017-07-05T10:00:00Z", "end": "2017-07-05T09:00:00Z", "label": "backwards"},
    ]}))
    out = tmp_path / "flows.csv"
    proc = subprocess.Popen([env.sniffer, "-i", "wan0:wan:gateway", "--read-pcap", "-", "--write-csv", out,
                             "--labels", rules], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 1, stderr
    assert f'invalid labels file "{rules}" (4 problems)' in stderr, stderr
    for line in (f'{rules}: rule 2 (rules[1]): src: prefix "192.0.2.300/24": not an IPv4 or IPv6 address',
                 f"{rules}: rule 3 (rules[2]): dst_port: port 70000 out of range (0-65535)",
                 f"{rules}: rule 3 (rules[2]): srcport: unknown field",
                 f"{rules}: rule 4 (rules[3]): end: not after start"):
        assert line in stderr, stderr
    assert stdout == "" and not out.exists()


def test_other_rules_file_errors(env, tmp_path):
    """A label that would need quoting, a file of neither extension, --labels without --read-pcap."""
    capture = str(CAPTURES[0])
    rules = tmp_path / "rules.csv"
    rules.write_text('dst_port,protocol,label\n80,tcp,"DoS, slow"\n')
    proc = subprocess.run([env.sniffer, "-i", "wan0:wan:gateway", "--read-pcap", capture, "--labels", rules],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1, proc.stderr
    assert f"{rules}: rule 1 (line 2): label: a label may not hold a comma" in proc.stderr, proc.stderr
    other = tmp_path / "rules.txt"
    other.write_text("label\nx\n")
    proc = subprocess.run([env.sniffer, "-i", "wan0:wan:gateway", "--read-pcap", capture, "--labels", other],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and f"{other}: unknown format: the file name must end in .csv or .json" \
        in proc.stderr, proc.stderr
    proc = subprocess.run([env.sniffer, "-i", "wan0:wan:gateway", "--labels", rules], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2 and "--labels requires --read-pcap" in proc.stderr, proc.stderr
