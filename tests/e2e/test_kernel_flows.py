"""Kernel flow aggregation (flows.aggregation "kernel") against the userspace flow table.

Offline: every capture of the corpus (corpus.py), and one written here with a TCP port reuse
(no capture of the in-repository corpus has one), through --read-pcap in both modes, twice
(default timeouts, and short ones that make idle endings and active-timeout updates common):
the flow records (CSV rows, flow ids included) must be identical, and so must the report's
flow counts. Live: the dual-NIC lab with the programs aggregating, flow records exact and
complete, sampled packet events alongside, the kernel's counters and metrics; and a flow map
too small for the traffic, where no packet goes missing from the flow records.
"""
import csv
import json
import subprocess
import sys
import time
from collections import Counter

from corpus import PCAPS, REPO_PCAPS, captures, corpus_line
from e2e_support import Addr, random_ports, scrape
from flow_support import DATAGRAMS, END_FIN, END_SHUTDOWN, FLOOD_SCRIPT, FLOW_DIRECTION, final_records, flow_key, \
    tcp_exchange, udp_flows
from pcap_frames import ACK, SYN, ether, ipv4, tcp, write_pcap

END_IDLE, END_ACTIVE, END_TABLE_FULL = 3, 4, 9
SHORT_TIMEOUTS = {"idle_timeout_ms": 3000, "active_timeout_ms": 1000, "tcp_close_grace_ms": 500,
                  "activity_timeout_ms": 1000}


def start_offline(env, workdir, name, flows):
    """Starts one capture through --read-pcap; finish() gives (CSV rows as a Counter, the report)."""
    workdir.mkdir(exist_ok=True)
    config = workdir / "offline.json"
    config.write_text(json.dumps({"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}],
                                  "flows": flows}))
    out = workdir / "flows.csv"
    proc = subprocess.Popen([env.sniffer, "--config", config, "--read-pcap", PCAPS / name, "--write-csv", out],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish():
        stdout, stderr = proc.communicate(timeout=120)
        report = json.loads(stdout.splitlines()[-1])
        assert proc.returncode == (1 if report["pcap"]["read_error"] else 0), stderr
        with open(out) as f:
            rows = Counter(tuple(row) for row in csv.reader(f))
        return rows, report
    return finish


def port_reuse_capture(path):
    """A client opening a second connection on an open connection's 5-tuple with a new
    sequence number: the first flow ends with reason port_reuse."""
    c, s, t = "192.0.2.10", "198.51.100.10", 1_700_000_000.0
    frames = []
    for i, seq in enumerate((1000, 5000)):
        frames += [(t + i, ether(0x0800) + ipv4(c, s, 6, tcp(40000, 80, SYN, seq=seq))),
                   (t + i + 0.001, ether(0x0800) + ipv4(s, c, 6, tcp(80, 40000, SYN | ACK, seq=9000, ack=seq + 1))),
                   (t + i + 0.002, ether(0x0800) + ipv4(c, s, 6, tcp(40000, 80, ACK, seq=seq + 1, ack=9001)))]
    return write_pcap(path, frames)


def test_offline_records_are_identical_in_both_modes(env, tmp_path):
    totals = Counter()
    lines = [corpus_line()]
    names = [*captures(), port_reuse_capture(tmp_path / "port_reuse.pcap")]  # absolute: PCAPS / name is name
    for timeouts in ({}, SHORT_TIMEOUTS):
        for name in names:
            # Both modes at once (two CPUs here), each in its own directory.
            user_run = start_offline(env, tmp_path / "user", name, {**timeouts, "aggregation": "userspace"})
            kernel_run = start_offline(env, tmp_path / "kernel", name, {**timeouts, "aggregation": "kernel"})
            user_rows, user = user_run()
            kernel_rows, kernel = kernel_run()
            where = f"{name} ({'short' if timeouts else 'default'} timeouts)"
            only_user, only_kernel = user_rows - kernel_rows, kernel_rows - user_rows
            assert not only_user and not only_kernel, \
                f"{where}: {len(only_user)} records only in userspace, e.g. {list(only_user)[:1]}; " \
                f"{len(only_kernel)} only in kernel, e.g. {list(only_kernel)[:1]}"
            uf, kf = user["userspace"]["flows"], kernel["userspace"]["flows"]
            for key in ("created", "ended", "updates", "packets", "ended_by_reason"):
                assert kf[key] == uf[key], f"{where}: flows.{key} {kf[key]} (kernel) != {uf[key]} (userspace)"
            k = kernel["kernel"]
            assert k["flow_packets"] == uf["packets"], where  # every flow packet aggregated in the kernel
            assert k["flow_records"] == kf["records"] and k["flow_ringbuf_full"] == 0, where
            assert k["flow_map_full"] == 0 and kf["sweep_failures"] == 0, where
            assert user["kernel"]["flow_packets"] == 0 and user["kernel"]["flow_records"] == 0, where
            totals.update(captures=1, records=sum(user_rows.values()) - 1, updates=uf["updates"],
                          idle=uf["ended_by_reason"]["FLOW_END_IDLE_TIMEOUT"],
                          fin_rst=uf["ended_by_reason"]["FLOW_END_FIN"] + uf["ended_by_reason"]["FLOW_END_RST"],
                          reuse=uf["ended_by_reason"]["FLOW_END_PORT_REUSE"])
        lines.append(f"{'short' if timeouts else 'default'} timeouts: {dict(totals)}")
    print("\n".join(lines))
    # The comparison covered every way a flow ends offline, and many records: the in-repository
    # corpus gives about 6,900 of them; a larger corpus (../shared/pcaps: 69 captures) over 100,000.
    many = 5000 if PCAPS == REPO_PCAPS else 100000
    assert totals["records"] > many and totals["updates"] > 0 and totals["idle"] > 0
    assert totals["fin_rst"] > 0 and totals["reuse"] > 0


def kernel_config(**flows):
    return {"aggregation": "kernel", "tcp_close_grace_ms": 200, **flows}


def test_live_kernel_flows_are_exact(lab, start_daemon, subscribe, echo_servers):
    daemon = start_daemon(flows=kernel_config(packet_sample_one_in=1), metrics={"listen": "127.0.0.1:9761"})
    sub = subscribe(daemon.endpoint, b"flow")
    events = subscribe(daemon.endpoint, b"pkt")
    time.sleep(0.5)

    flows = udp_flows(lab, echo_servers)
    tcp_port = random_ports(1)[0]
    tcp_exchange(lab, lab.lan, Addr.LAN4_PEER, lab.wan, Addr.WAN4_PEER, tcp_port)
    # The TCP flow ends by FIN once the daemon's sweep finds its grace over.
    assert sub.wait_for(lambda recs: any(r.l4_protocol == 6 and r.dst_port == tcp_port for r in recs), timeout=5), \
        "no FIN-ended TCP flow record within 5 s"
    _, metrics = scrape(lab, 9761)
    report = daemon.stop()
    sub.stop()
    events.stop()

    records = final_records(sub.snapshot())
    for f in flows:
        key = flow_key(f["version"], f["client"], f["sport"], f["server"], f["dport"], 17)
        r = records[key]
        where = f"{f['path']}/IPv{f['version']}"
        frame = 14 + (20 if f["version"] == 4 else 40) + 8 + f["size"]
        assert (r.fwd.packets, r.bwd.packets) == (DATAGRAMS, DATAGRAMS), where  # egress copies not counted
        assert (r.fwd.bytes, r.bwd.bytes) == (DATAGRAMS * frame, DATAGRAMS * frame), where
        assert r.interface == f["iface"] and r.direction == FLOW_DIRECTION[f["direction"]], where
        assert r.end_reason == END_SHUTDOWN and r.duration_us > 0, where
        # Wall-clock times, converted from the kernel's monotonic clock.
        assert abs(r.start_ns / 1e9 - time.time()) < 60, where
    tcp = [r for r in records.values() if r.l4_protocol == 6 and r.dst_port == tcp_port]
    assert len(tcp) == 1 and tcp[0].end_reason == END_FIN and tcp[0].conn_state == "SF", tcp
    assert (tcp[0].fwd.payload_bytes, tcp[0].bwd.payload_bytes) == (100, 200)
    assert tcp[0].history.startswith("ShAD"), tcp[0].history

    kernel, user = report["kernel"], report["userspace"]
    # Every packet is accounted for: a record, or withheld for a counted reason.
    assert kernel["records"] + kernel["ringbuf_full"] + kernel["filtered"] + kernel["blocked_unrecorded"] + \
        kernel["sampled_out"] == sum(n for hook in kernel["packets"].values() for n in hook.values())
    assert kernel["sampled_out"] == 0 and kernel["records"] > 0  # 1 in 1: every packet has its event too
    assert len(events.snapshot()) > 0
    assert kernel["flow_ringbuf_full"] == 0 and kernel["flow_map_full"] == 0
    assert user["flows"]["aggregation"] == "kernel"
    assert user["flows"]["ended"] == user["flows"]["created"] == kernel["flow_records"] + user["flows"]["swept"]
    assert user["flows"]["publish"]["published"] == len(sub.snapshot())
    assert user["flows"]["packets"] == kernel["flow_packets"] > 0
    assert kernel["flow_skipped"] > 0  # the forwarded copies tc_egress saw
    assert metrics['sniffer_kernel_flow_packets_total{interface="wan0"}'] > 0
    assert metrics['sniffer_kernel_flow_update_failures_total{interface="wan0",reason="map_full"}'] == 0
    assert 'sniffer_flows_active' in metrics and 'sniffer_flows_evicted_total' in metrics


def test_packet_ports_yield_every_packet_event_of_their_port(lab, start_daemon, subscribe, echo_servers):
    """Kernel aggregation without sampling, flows.packet_ports [P]: events for every packet of
    port P (a payload detector's traffic) and for nothing else; flows for everything."""
    tcp_port = random_ports(1)[0]
    daemon = start_daemon(flows=kernel_config(packet_sample_one_in=0, packet_ports=[tcp_port]))
    flows_sub = subscribe(daemon.endpoint, b"flow")
    events = subscribe(daemon.endpoint, b"pkt")
    time.sleep(0.5)
    udp = udp_flows(lab, echo_servers)
    tcp_exchange(lab, lab.lan, Addr.LAN4_PEER, lab.wan, Addr.WAN4_PEER, tcp_port)
    report = daemon.stop()
    flows_sub.stop()
    events.stop()

    heard = events.snapshot()
    assert heard and all(tcp_port in (e.src_port, e.dst_port) for e in heard), \
        sorted({(e.src_port, e.dst_port) for e in heard})[:5]
    records = final_records(flows_sub.snapshot())
    tcp = [r for r in records.values() if r.l4_protocol == 6 and r.dst_port == tcp_port]
    assert len(tcp) == 1
    # Every packet of the flow has its event (plus the forwarded copies TC egress saw).
    assert sum(1 for e in heard if e.hook != 3) == tcp[0].fwd.packets + tcp[0].bwd.packets
    for f in udp:  # the other flows are still complete
        key = flow_key(f["version"], f["client"], f["sport"], f["server"], f["dport"], 17)
        assert (records[key].fwd.packets, records[key].bwd.packets) == (DATAGRAMS, DATAGRAMS)
    kernel = report["kernel"]
    assert kernel["records"] == len(heard) and kernel["sampled_out"] > 0


def test_a_full_flow_map_loses_no_packet(lab, start_daemon, subscribe):
    """100 flows into a map of 64: the kernel sends what does not fit as one-packet records,
    the sweep evicts down to 80 %; every datagram is in exactly one flow record."""
    count, capacity = 100, 64
    daemon = start_daemon(publish={"packet_events": False}, flows=kernel_config(max_flows=capacity))
    sub = subscribe(daemon.endpoint, b"flow")
    time.sleep(0.5)
    lab.exec(lab.wan, [sys.executable, "-c", FLOOD_SCRIPT, Addr.LAN4_PEER, 20000, count])
    time.sleep(1.5)  # a sweep passes: above 90 % full, it evicts
    report = daemon.stop()
    sub.stop()

    ours = [r for r in sub.snapshot() if r.l4_protocol == 17 and 20000 <= r.dst_port < 20000 + count]
    assert sorted(r.dst_port for r in ours) == list(range(20000, 20000 + count))  # each exactly once
    assert all(r.fwd.packets == 1 for r in ours)
    reasons = Counter(r.end_reason for r in ours)
    kernel, flows = report["kernel"], report["userspace"]["flows"]
    # Other packets of the lab (IPv6 neighbour discovery, say) may meet the full map too.
    every_table_full = sum(1 for r in sub.snapshot() if r.end_reason == END_TABLE_FULL)
    assert every_table_full == kernel["flow_map_full"] and reasons[END_TABLE_FULL] > 0, reasons
    assert flows["table_full"] == kernel["flow_map_full"]
    assert flows["evicted"] > 0 and reasons[5] > 0, (flows, reasons)  # FLOW_END_EVICTED
    assert kernel["flow_ringbuf_full"] == 0
