"""Flow records of captures that real-world sensors produce, through --read-pcap, in both
aggregation modes (userspace table and kernel flows, which must agree).

Issue 16 ("found on real captures"): each case is a capture written here frame by frame
(pcap_frames.py) after a published trace, or the trace itself where tests/data/pcaps has it:
- IPv6 captured with snap length 64 / 68: the TCP header is cut, the ports must survive
  (tshark reads them), its bytes are not payload, the flags count when captured;
- a client retrying a refused connection with the same sequence number (Zeek's
  Traces/pop3.pcap): one REJ flow per attempt, as Zeek logs them;
- only the server side of connections (Zeek's Traces/ssh.server-side-half-duplex.pcap): the
  SYN+ACK's receiver is the originator, conn_state SHR as in Zeek;
- IPv4 total length 0 from a host with TCP segmentation offload (Zeek's
  Traces/.../missing_ldap_logs.pcapng): the segments count their payload;
- MPLS-encapsulated IP (Zeek's Traces/mixed-vlan-mpls.pcap, in tests/data/pcaps): a flow;
- UDP: Zeek's S0 / SF.
"""
import csv
import json
import subprocess

import pytest

from corpus import REPO_PCAPS
from flow_support import AGGREGATION_MODES as MODES
from pcap_frames import ACK, FIN, PSH, RST, SYN, ether, ipv4, ipv6, tcp, udp, write_pcap

NO_TIMEOUTS = {"idle_timeout_ms": 86400000, "active_timeout_ms": 86400000, "tcp_close_grace_ms": 86400000}


def flows_of(env, tmp_path, pcap, mode):
    config = tmp_path / f"{mode}.json"
    config.write_text(json.dumps({"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}],
                                  "flows": {**NO_TIMEOUTS, "aggregation": mode}}))
    out = tmp_path / f"{mode}.csv"
    proc = subprocess.run([env.sniffer, "--config", config, "--read-pcap", pcap, "--write-csv", out],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open(out) as f:
        return [row for row in csv.DictReader(f) if row["is_update"] == "0"]


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


def tcp_flows(rows):
    return [r for r in rows if r["Protocol"] == "6"]


def test_ipv6_snap_length_cut_tcp_headers_keep_ports_and_flags(env, tmp_path, mode):
    c, s = "2001:db8::10", "2001:db8::22"
    frames = []
    t = 1_700_000_000.0
    frames.append((t, ether(0x86DD) + ipv6(c, s, 6, tcp(50123, 22, SYN, doff=10))))
    frames.append((t + 0.001, ether(0x86DD) + ipv6(s, c, 6, tcp(22, 50123, SYN | ACK, doff=10))))
    for i in range(4):
        frames.append((t + 0.01 + i * 0.001,
                       ether(0x86DD) + ipv6(s, c, 6, tcp(22, 50123, PSH | ACK, doff=8, payload=b"x" * 1000))))
    for snaplen in (64, 68):
        rows = flows_of(env, tmp_path, write_pcap(tmp_path / f"snap{snaplen}.pcap", frames, snaplen), mode)
        flows = tcp_flows(rows)
        assert len(flows) == 1, [r["Flow ID"] for r in rows]
        f = flows[0]
        assert (f["Source Port"], f["Destination Port"]) == ("50123", "22"), f["Flow ID"]
        assert (f["Total Fwd Packets"], f["Total Backward Packets"]) == ("1", "5")
        # The data offset is captured at 68 (14 TCP bytes), not at 64 (10): then the
        # minimal 20-byte header comes out of the payload, never the header as payload.
        assert int(f["Total Length of Bwd Packets"]) == (4 * 1000 if snaplen == 68 else 4 * 1012 + 20)
        assert f["SYN Flag Count"] == ("2" if snaplen == 68 else "0")
        assert f["conn_state"] == ("S1" if snaplen == 68 else "OTH")


def test_retries_of_a_refused_connection_are_one_rej_flow_each(env, tmp_path, mode):
    c, s = "10.0.0.1", "10.0.0.2"
    frames = []
    for attempt in range(3):
        t = 1_700_000_000.0 + attempt * 3
        frames.append((t, ether(0x0800) + ipv4(c, s, 6, tcp(1042, 110, SYN, seq=777))))
        frames.append((t + 0.0005, ether(0x0800) + ipv4(s, c, 6, tcp(110, 1042, RST | ACK, seq=0, ack=778))))
    flows = tcp_flows(flows_of(env, tmp_path, write_pcap(tmp_path / "pop3.pcap", frames), mode))
    assert [f["conn_state"] for f in flows] == ["REJ"] * 3
    assert [f["history"] for f in flows] == ["Sr"] * 3


def test_server_side_only_connections_are_shr(env, tmp_path, mode):
    c, s = "10.0.0.1", "10.0.0.2"
    frames = []
    for i in range(3):
        t = 1_700_000_000.0 + i
        port = 40000 + i
        frames.append((t, ether(0x0800) + ipv4(s, c, 6, tcp(22, port, SYN | ACK))))
        frames.append((t + 0.01, ether(0x0800) + ipv4(s, c, 6, tcp(22, port, PSH | ACK, payload=b"SSH-2.0-x\r\n"))))
        frames.append((t + 0.02, ether(0x0800) + ipv4(s, c, 6, tcp(22, port, FIN | ACK))))
    flows = tcp_flows(flows_of(env, tmp_path, write_pcap(tmp_path / "half.pcap", frames), mode))
    assert len(flows) == 3
    for f in flows:
        assert (f["Source IP"], f["Destination Port"]) == (c, "22"), f["Flow ID"]
        assert f["conn_state"] == "SHR"
        assert f["history"] == "hdf"


def test_ipv4_total_length_zero_segments_count_their_payload(env, tmp_path, mode):
    c, s = "10.0.0.1", "10.0.0.2"
    t = 1_700_000_000.0
    frames = [(t, ether(0x0800) + ipv4(s, c, 6, tcp(389, 50000, PSH | ACK, payload=b"l" * 1800), total_len=0)),
              (t + 0.001, ether(0x0800) + ipv4(s, c, 6, tcp(389, 50000, ACK, payload=b"m" * 1200), total_len=0))]
    flows = tcp_flows(flows_of(env, tmp_path, write_pcap(tmp_path / "tso.pcap", frames), mode))
    assert len(flows) == 1
    assert flows[0]["Total Length of Fwd Packets"] == "3000"
    assert flows[0]["Fwd Packet Length Max"] == "1800"


def test_mpls_encapsulated_ip_makes_flows(env, tmp_path, mode):
    pcap = REPO_PCAPS / "vlan" / "mixed_vlan_mpls.pcap"
    flows = flows_of(env, tmp_path, pcap, mode)
    telnet = [f for f in flows if f["Flow ID"] == "10.1.2.1-10.34.0.1-11001-23-6"]
    assert len(telnet) == 1, [f["Flow ID"] for f in flows]
    assert telnet[0]["Total Fwd Packets"] == "11"  # tshark: 11 MPLS frames, label 29


def test_udp_flows_have_zeeks_states(env, tmp_path, mode):
    c, s = "10.0.0.1", "10.0.0.53"
    t = 1_700_000_000.0
    frames = [(t, ether(0x0800) + ipv4(c, s, 17, udp(5000, 53, b"q"))),
              (t + 0.001, ether(0x0800) + ipv4(s, c, 17, udp(53, 5000, b"answer"))),
              (t + 0.002, ether(0x0800) + ipv4(c, s, 17, udp(5001, 53, b"q")))]
    flows = {f["Source Port"]: f for f in flows_of(env, tmp_path, write_pcap(tmp_path / "udp.pcap", frames), mode)}
    assert flows["5000"]["conn_state"] == "SF" and flows["5000"]["history"] == "Dd"
    assert flows["5001"]["conn_state"] == "S0" and flows["5001"]["history"] == "D"
