"""Workers (capture.workers): one ring, reader, flow table shard and batcher per worker.

The programs send each flow's records to one worker's ring (a hash of the flow's two
endpoints that both directions share); each worker thread builds its own flows and
batches; the batches of all workers go out on the one publish socket, numbered in one
sequence per topic. The other files that matter run again with 2 workers
(tests/CMakeLists.txt, SNIFFER_E2E_WORKERS); this one checks what only workers have.
"""
import os
import sys
import time

from e2e_support import Addr, random_ports, run, scrape_until, wait_log
from flow_support import DATAGRAMS, FLOOD_SCRIPT, final_records, flow_key, udp_flows

FLOOD_FLOWS = 64  # one datagram each: all on one of 2 workers with probability 2^-63


def thread_names(pid):
    names = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/comm") as f:
            names.append(f.read().strip())
    return names


def contiguous(batches):
    return [b.sequence for b in batches] == list(range(1, len(batches) + 1))


def test_two_workers_split_the_flows_keep_them_whole_and_publish_one_sequence(lab, start_daemon, subscribe,
                                                                              echo_servers):
    port = 9750 + int.from_bytes(os.urandom(1), "little")
    daemon = start_daemon(capture={"workers": 2}, metrics={"listen": f"127.0.0.1:{port}"})
    # ip netns exec execs the daemon: the same pid. Its worker threads are named.
    assert sorted(n for n in thread_names(daemon.proc.pid) if n.startswith("sniffer-w")) == ["sniffer-w0",
                                                                                         "sniffer-w1"]
    events, flows_sub = subscribe(daemon.endpoint, b"pkt"), subscribe(daemon.endpoint, b"flow")
    time.sleep(0.5)  # slow joiner
    assert wait_log(daemon, "2 workers, each with its own ring")

    flows = udp_flows(lab, echo_servers)
    first = random_ports(1)[0]
    lab.exec(lab.wan, [sys.executable, "-c", FLOOD_SCRIPT, Addr.LAN4_PEER, first, FLOOD_FLOWS])
    samples = scrape_until(lab, port, lambda s: all(s.get(f'sniffer_worker_records_received_total{{worker="{w}"}}', 0)
                                                   > 0 for w in (0, 1)))
    report = daemon.stop()
    events.stop()
    flows_sub.stop()

    # Both workers took a share, and the report's sums are the workers' sums.
    workers = report["userspace"]["workers"]
    assert len(workers) == 2
    assert all(w["records_processed"] > 0 for w in workers), workers
    assert sum(w["records_processed"] for w in workers) == report["userspace"]["records_processed"]
    assert all(samples[f'sniffer_worker_records_received_total{{worker="{w}"}}'] > 0 for w in (0, 1)), samples

    # Each topic's batches carry one sequence, with no gap, whichever worker made them.
    for sub in (events, flows_sub):
        assert contiguous(sub.batches), [(b.worker, b.sequence) for b in sub.batches]
        assert {b.worker for b in sub.batches} == {0, 1}
    assert report["userspace"]["events_published"] == len(events.snapshot())

    # Every flow whole on its worker: both directions counted on one record, one record a flow.
    records = final_records(flows_sub.snapshot())
    for f in flows:
        r = records[flow_key(f["version"], f["client"], f["sport"], f["server"], f["dport"], 17)]
        assert (r.fwd.packets, r.bwd.packets) == (DATAGRAMS, DATAGRAMS), f
    flood = [r for r in records.values() if r.l4_protocol == 17 and first <= r.dst_port < first + FLOOD_FLOWS]
    assert sorted(r.dst_port for r in flood) == list(range(first, first + FLOOD_FLOWS))
    assert all((r.fwd.packets, r.bwd.packets) == (1, 0) for r in flood)
    ids = [r.flow_id for r in records.values()]
    assert len(set(ids)) == len(ids), "flow ids repeat across workers"
    user = report["userspace"]
    assert user["flows"]["created"] == user["flows"]["ended"] == len(records)


def test_auto_gives_a_worker_per_receive_queue(lab, start_daemon):
    # A veth pair with 2 receive queues in the sensor's namespace, monitored alone.
    run(["ip", "-n", lab.gw, "link", "add", "mq0", "numrxqueues", "2", "numtxqueues", "2", "type", "veth",
         "peer", "name", "mq1", "numrxqueues", "2", "numtxqueues", "2"])
    run(["ip", "-n", lab.gw, "link", "set", "mq0", "up"])
    run(["ip", "-n", lab.gw, "link", "set", "mq1", "up"])
    daemon = start_daemon(interfaces=[{"name": "mq0", "role": "wan", "mode": "gateway"}],
                          capture={"workers": 0, "payload_bytes": 0})
    expected = min(2, os.cpu_count())
    if expected > 1:
        assert wait_log(daemon, f"{expected} workers, each with its own ring, flow table shard and batches "
                         "(capture.workers auto)")
    report = daemon.stop()
    assert len(report["userspace"]["workers"]) == expected
