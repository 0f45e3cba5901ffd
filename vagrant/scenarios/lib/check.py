#!/usr/bin/env python3
"""check.py: a lab scenario's expected versus observed figures, from the sensor's own output.

    check.py SCENARIO --report report.json --collected collected.json [--param KEY=VALUE]...
             [--expected FILE.json] [--lab NAME]

- report.json: the daemon's final JSON report (printed on SIGTERM): kernel counters per hook
  and protocol class (and per interface when the daemon reports them), userspace counters,
  flow counters;
- collected.json: what lib/collect.py received on the ZeroMQ stream: events counted per
  (interface, hook, protocol, source, destination, TCP flags or ICMP type), every flow record,
  batches and sequence gaps.

Prints one line per figure (expected, observed, ok or DIFFERS) and exits 0 when every figure
matches, 1 when one differs. Uses the standard library only (it runs on the host).
"""
import argparse
import json
import sys

TCP, UDP, ICMP = 6, 17, 1
SYN, RST, ACK = 0x02, 0x04, 0x10
CLASSES = {TCP: "tcp", UDP: "udp", ICMP: "icmp", 58: "icmp"}


class Check:
    def __init__(self, name, lab, report, collected, params, expected):
        self.name, self.lab = name, lab
        self.report, self.collected = report, collected
        self.p, self.expected = params, expected
        self.rows = []  # (section, label, expected, observed, ok)
        self.section = ""
        self.notes = []
        self.events = [tuple(e[:6]) + (e[6],) for e in collected["events"]]
        self.final_flows = [f for f in collected["flows"] if not f["is_update"]]

    # -- figures -------------------------------------------------------------------------
    def head(self, section):
        self.section = section

    def row(self, label, expected, observed, ok=None):
        if ok is None:
            ok = expected == observed
        self.rows.append((self.section, label, expected, observed, bool(ok)))

    def note(self, text):
        self.notes.append(text)

    # -- the stream ----------------------------------------------------------------------
    def ev(self, iface=None, hook=None, proto=None, src=None, dst=None, detail=None, between=None):
        """Events received, summed over the matching keys; between=(a, b) matches a->b and b->a."""
        total = 0
        for (i, h, p, s, d, x, n) in self.events:
            if iface is not None and i != iface:
                continue
            if hook is not None and h != hook:
                continue
            if proto is not None and p != proto:
                continue
            if src is not None and s != src:
                continue
            if dst is not None and d != dst:
                continue
            if detail is not None and x != detail:
                continue
            if between is not None and {s, d} != set(between):
                continue
            total += n
        return total

    def flows(self, **match):
        out = []
        for f in self.final_flows:
            if all((f[k] in v) if isinstance(v, (set, frozenset, range)) else f[k] == v for k, v in match.items()):
                out.append(f)
        return out

    # -- the report ----------------------------------------------------------------------
    def kernel_packets(self, iface, hook, cls):
        """Kernel packet counter of one interface, hook and class; None when the daemon does
        not report per-interface counters (then the figure is left out)."""
        per_if = self.report["kernel"].get("interfaces")
        if per_if is None:
            return None
        return per_if.get(iface, {}).get("packets", {}).get(hook, {}).get(cls, 0)

    def kernel_row(self, iface, hook, cls, expected, label=None):
        observed = self.kernel_packets(iface, hook, cls)
        if observed is None:
            self.note(f"the daemon reports no per-interface kernel counters: {iface} {hook} {cls} not checked")
            return
        self.row(label or f"kernel counter: {iface} {hook} {cls} packets", expected, observed)

    def accounting(self, max_ringbuf_full=0):
        """The identities the README states, from the report and the stream."""
        k, u = self.report["kernel"], self.report["userspace"]
        f = u["flows"]
        self.head("accounting (README: counters and accounting)")
        seen = sum(n for hook in k["packets"].values() for n in hook.values())
        self.row("kernel packets (all hooks) = records + ringbuf_full + filtered",
                 seen, k["records"] + k["ringbuf_full"] + k["filtered"])
        self.row("kernel records = userspace records_received", k["records"], u["records_received"])
        decode = sum(u.get("decode_errors", {}).values())
        self.row("records_received = events_published + events_dropped_hwm + decode errors",
                 u["records_received"], u["events_published"] + u["events_dropped_hwm"] + decode)
        self.row("events the subscriber received = events_published - events_unsubscribed",
                 u["events_published"] - u["events_unsubscribed"], self.collected["events_received"])
        self.row("flows created = flows ended", f["created"], f["ended"])
        pub = f["publish"]
        self.row("flow records received = published - unsubscribed",
                 pub["published"] - pub.get("unsubscribed", 0), self.collected["flows_received"])
        self.row("kernel ringbuf_full (records lost: ring full)", max_ringbuf_full, k["ringbuf_full"],
                 k["ringbuf_full"] <= max_ringbuf_full)
        self.row("events dropped at the high-water mark", 0, u["events_dropped_hwm"])
        self.row("flow records dropped at the high-water mark", 0, pub.get("dropped_hwm", 0))
        self.row("flows evicted (table full)", 0, f.get("evicted", 0))
        gaps = self.collected["sequence_gaps"]
        self.row("sequence gaps seen by the subscriber (pkt, flow)", [0, 0], [gaps["pkt"], gaps["flow"]])
        self.row("sensor runs seen by the subscriber", 1, self.collected["sensor_starts"])
        for err in self.collected.get("errors", []):
            self.note(f"collector: {err}")

    # -- output --------------------------------------------------------------------------
    def finish(self):
        width = max(len(r[1]) for r in self.rows) + 2
        print(f"\nscenario {self.name} ({self.lab}): expected versus observed, from the sensor's report and ZeroMQ stream")
        print(f"  {'figure':<{width}} {'expected':>12} {'observed':>12}")
        section = None
        for sec, label, exp, obs, ok in self.rows:
            if sec != section:
                section = sec
                print(f"  {sec}")
            print(f"    {label:<{width - 2}} {fmt(exp):>12} {fmt(obs):>12}  {'ok' if ok else 'DIFFERS'}")
        for text in self.notes:
            print(f"  note: {text}")
        bad = [r for r in self.rows if not r[4]]
        if bad:
            print(f"RESULT {self.name}: FAIL: {len(bad)} of {len(self.rows)} figures differ")
            return 1
        print(f"RESULT {self.name}: PASS: all {len(self.rows)} figures as expected")
        return 0


def fmt(v):
    if isinstance(v, list):
        return "/".join(str(x) for x in v)
    return str(v)


# -- the scenarios ---------------------------------------------------------------------------

def host_based(c):
    """A SYN scan of N ports of the defender's WAN address; every port closed: RST/ACK."""
    n = int(c.p["count"])
    att, dfd, wan, lan = c.p["attacker"], c.p["defender_wan"], c.p["wan_if"], c.p["lan_if"]
    first, last = int(c.p["first_port"]), int(c.p["first_port"]) + n - 1
    c.head(f"traffic: hping3 SYN scan {att} -> {dfd} ports {first}-{last}")
    c.row("SYN probes the attacker sent (hping3)", n, int(c.p["sent"]))
    c.head(f"records per interface (events on the stream, TCP between {att} and {dfd})")
    c.row(f"{wan} xdp_ingress: SYN {att} -> {dfd}", n, c.ev(wan, "xdp_ingress", TCP, att, dfd, SYN))
    c.row(f"{wan} xdp_ingress: any other TCP between them", 0,
          c.ev(wan, "xdp_ingress", TCP, between=(att, dfd)) - c.ev(wan, "xdp_ingress", TCP, att, dfd, SYN))
    c.row(f"{wan} tc_egress: RST/ACK {dfd} -> {att}", n, c.ev(wan, "tc_egress", TCP, dfd, att, RST | ACK))
    c.row(f"{wan} tc_egress: any other TCP between them", 0,
          c.ev(wan, "tc_egress", TCP, between=(att, dfd)) - c.ev(wan, "tc_egress", TCP, dfd, att, RST | ACK))
    c.row(f"{wan} records of the scan (both hooks)", 2 * n, c.ev(wan, proto=TCP, between=(att, dfd)))
    c.row(f"{lan} records of the scan", 0, c.ev(lan, proto=TCP, between=(att, dfd)))
    c.head("kernel counters (the daemon's report)")
    c.kernel_row(wan, "xdp_ingress", "tcp", n)
    c.kernel_row(wan, "tc_egress", "tcp", n)
    c.kernel_row(lan, "xdp_ingress", "tcp", 0)
    flows = c.flows(proto=TCP, src=att, dst=dfd, dport=range(first, last + 1))
    c.head("flows per interface (flow records on the stream)")
    c.row(f"flows {att} -> {dfd} ports {first}-{last}", n, len(flows))
    c.row("  distinct destination ports", n, len({f["dport"] for f in flows}))
    c.row(f"  first seen on {wan}", n, sum(f["interface"] == wan for f in flows))
    c.row(f"  first seen on {lan}", 0, sum(f["interface"] == lan for f in flows))
    c.row("  conn_state REJ", n, sum(f["conn_state"] == "REJ" for f in flows))
    c.row("  direction to_sensor", n, sum(f["direction"] == "to_sensor" for f in flows))
    c.row("  1 packet each way (SYN, RST/ACK)", n, sum(f["fwd_packets"] == 1 and f["bwd_packets"] == 1 for f in flows))
    c.row("  ended by RST", n, sum(f["end_reason"] == "rst" for f in flows))
    c.row("other flows between them", 0, len(c.flows(proto=TCP, src=att, dst=dfd)) - len(flows)
          + len(c.flows(proto=TCP, src=dfd, dst=att)))
    c.accounting()


def flood(c):
    """N SYNs from the attacker through the gateway to a closed port of the client."""
    n = int(c.p["count"])
    att, cli, wan, lan = c.p["attacker"], c.p["client"], c.p["wan_if"], c.p["lan_if"]
    c.head(f"traffic: hping3 SYN flood {att} -> {cli}:{c.p['port']} (closed), {n} packets")
    c.row("SYNs the attacker sent (hping3)", n, int(c.p["sent"]))
    # hping3 counts the replies through its own libpcap capture, which can miss a few when the
    # machine is busy (CI: 19,994 of 20,000 while the sensor recorded all 20,000 at every hook
    # below): the sensor's exactness is in the rows that follow, this one only says the replies came.
    received = int(c.p["received"])
    c.row("RST/ACKs the attacker received (hping3's capture: at least 99 %)", n, received,
          ok=0.99 * n <= received <= n)
    c.head(f"records per interface (events on the stream, TCP between {att} and {cli})")
    c.row(f"{wan} xdp_ingress: SYN {att} -> {cli}", n, c.ev(wan, "xdp_ingress", TCP, att, cli, SYN))
    c.row(f"{lan} xdp_ingress: RST/ACK {cli} -> {att}", n, c.ev(lan, "xdp_ingress", TCP, cli, att, RST | ACK))
    c.row(f"{wan} tc_egress: RST/ACK {cli} -> {att} (forwarded)", n, c.ev(wan, "tc_egress", TCP, cli, att, RST | ACK))
    c.row(f"{wan} records of the flood (both hooks)", 2 * n, c.ev(wan, proto=TCP, between=(att, cli)))
    c.row(f"{lan} records of the flood", n, c.ev(lan, proto=TCP, between=(att, cli)))
    c.row("records of the flood, all interfaces", 3 * n, c.ev(proto=TCP, between=(att, cli)))
    c.head("kernel counters (the daemon's report)")
    c.kernel_row(wan, "xdp_ingress", "tcp", n, f"kernel counter: {wan} xdp_ingress tcp packets (= N)")
    c.kernel_row(lan, "xdp_ingress", "tcp", n)
    c.kernel_row(wan, "tc_egress", "tcp", n)
    c.row("egress_forwarded (tc_egress copies kept out of flows)", n,
          c.report["userspace"].get("egress_forwarded", 0))
    flows = c.flows(proto=TCP, src=att, dst=cli)
    c.head("flows per interface (flow records on the stream)")
    c.row(f"flows {att} -> {cli}", n, len(flows))
    c.row(f"  first seen on {wan}", n, sum(f["interface"] == wan for f in flows))
    c.row(f"  first seen on {lan}", 0, sum(f["interface"] == lan for f in flows))
    c.row("  conn_state REJ", n, sum(f["conn_state"] == "REJ" for f in flows))
    c.row("  direction inbound", n, sum(f["direction"] == "inbound" for f in flows))
    c.row("  1 packet each way (SYN, RST/ACK)", n, sum(f["fwd_packets"] == 1 and f["bwd_packets"] == 1 for f in flows))
    c.row(f"flows {cli} -> {att} (a reply counted as a flow of its own)", 0, len(c.flows(proto=TCP, src=cli, dst=att)))
    c.accounting()


def gateway(c):
    """A capture replayed from the client side: per-direction figures as tshark counts them."""
    e = c.expected
    wan, lan = c.p["wan_if"], c.p["lan_if"]
    a, b = e["client"], e["server"]  # the capture's two hosts, rewritten into the lab
    c.head(f"traffic: tcpreplay of {e['pcap']} ({e['frames']} frames) on the client, {a} <-> {b}")
    c.row("frames tcpreplay sent", e["frames"], int(c.p["sent"]))
    c.row("frames tcpreplay failed to send", 0, int(c.p["failed"]))
    c.head(f"records per interface (events on the stream, between {a} and {b})")
    c.row(f"{lan} xdp_ingress: {a} -> {b}", e["frames_a_to_b"], c.ev(lan, "xdp_ingress", src=a, dst=b))
    c.row(f"{lan} xdp_ingress: {b} -> {a} (hairpinned back to the LAN)", e["frames_b_to_a"],
          c.ev(lan, "xdp_ingress", src=b, dst=a))
    c.row(f"{wan} tc_egress: {a} -> {b} (forwarded to the WAN)", e["frames_a_to_b"], c.ev(wan, "tc_egress", src=a, dst=b))
    c.row(f"{wan} xdp_ingress (nothing comes back from the WAN)", 0, c.ev(wan, "xdp_ingress", between=(a, b)))
    c.row(f"{lan} records of the replay", e["frames"], c.ev(lan, between=(a, b)))
    c.row(f"{wan} records of the replay", e["frames_a_to_b"], c.ev(wan, between=(a, b)))
    c.head("kernel counters (the daemon's report)")
    for cls in ("tcp", "udp"):
        c.kernel_row(lan, "xdp_ingress", cls, e["classes"].get(cls, 0))
    c.kernel_row(wan, "xdp_ingress", "tcp", 0)
    c.head(f"flows per interface (flow records between {a} and {b}, versus tshark's conversations)")
    flows = [f for f in c.final_flows if {f["src"], f["dst"]} == {a, b}]
    convs = e["conversations"]
    c.row(f"flows first seen on {lan}", len(convs), sum(f["interface"] == lan for f in flows))
    c.row(f"flows first seen on {wan}", 0, sum(f["interface"] == wan for f in flows))
    by_key = {}
    for f in flows:
        by_key.setdefault((f["proto"], f["src"], f["sport"], f["dst"], f["dport"]), []).append(f)
    matched = 0
    shown = 0
    sums = {"fwd_packets": 0, "fwd_bytes": 0, "bwd_packets": 0, "bwd_bytes": 0}
    obs_sums = dict.fromkeys(sums, 0)
    for conv in convs:
        key = (conv["proto"], conv["src"], conv["sport"], conv["dst"], conv["dport"])
        rkey = (conv["proto"], conv["dst"], conv["dport"], conv["src"], conv["sport"])
        want = {k: conv[k] for k in sums}
        for k in sums:
            sums[k] += conv[k]
        got = None
        if len(by_key.get(key, [])) == 1:
            f = by_key[key][0]
            got = {k: f[k] for k in sums}
        elif len(by_key.get(rkey, [])) == 1:  # the sensor saw the other side first
            f = by_key[rkey][0]
            got = {"fwd_packets": f["bwd_packets"], "fwd_bytes": f["bwd_bytes"],
                   "bwd_packets": f["fwd_packets"], "bwd_bytes": f["fwd_bytes"]}
        if got is not None:
            for k in sums:
                obs_sums[k] += got[k]
        if got == want:
            matched += 1
        elif shown < 5:
            shown += 1
            n = len(by_key.get(key, [])) + len(by_key.get(rkey, []))
            c.note(f"conversation {key}: tshark {want}, sensor {got if got else f'{n} flow records'}")
    c.row("conversations (tshark) = flows (sensor)", len(convs), len(flows))
    c.row("conversations whose flow has tshark's packets and bytes each way", len(convs), matched)
    c.row(f"packets {a} -> {b}, all flows", sums["fwd_packets"], obs_sums["fwd_packets"])
    c.row(f"bytes {a} -> {b}, all flows (frame bytes)", sums["fwd_bytes"], obs_sums["fwd_bytes"])
    c.row(f"packets {b} -> {a}, all flows", sums["bwd_packets"], obs_sums["bwd_packets"])
    c.row(f"bytes {b} -> {a}, all flows (frame bytes)", sums["bwd_bytes"], obs_sums["bwd_bytes"])
    c.row("  direction outbound (entered on the LAN, towards the WAN)", len(convs),
          sum(f["direction"] == "outbound" for f in flows))
    states = {}
    for f in flows:
        states[f["conn_state"]] = states.get(f["conn_state"], 0) + 1
    c.note("conn_state of the replayed flows: " + ", ".join(f"{k or '-'} {v}" for k, v in sorted(states.items())))
    c.accounting()


def throughput(c):
    """iperf3 client -> server through the gateway; the data connection's payload bytes."""
    e = c.expected
    wan, lan = c.p["wan_if"], c.p["lan_if"]
    cli, srv = e["client"], e["server"]
    c.head(f"traffic: iperf3 {cli}:{e['data_port']} -> {srv}:{e['server_port']}, {e['seconds']} s at {e['bitrate']} bit/s")
    c.note(f"iperf3: sent {e['bytes_sent']} bytes, the server received {e['bytes_received']}, "
           f"{e['retransmits']} retransmitted segment(s)")
    c.head(f"records per interface (TCP events between {cli} and {srv}; expected: the NICs' own counters)")
    c.row(f"{lan} xdp_ingress: {cli} -> {srv} (= client NIC tx packets)", e["client_tx"],
          c.ev(lan, "xdp_ingress", TCP, cli, srv))
    c.row(f"{wan} xdp_ingress: {srv} -> {cli} (= server NIC tx packets)", e["server_tx"],
          c.ev(wan, "xdp_ingress", TCP, srv, cli))
    c.row(f"{wan} tc_egress: {cli} -> {srv} forwarded (= server NIC rx packets)", e["server_rx"],
          c.ev(wan, "tc_egress", TCP, cli, srv))
    c.row(f"{lan} records of the test", e["client_tx"], c.ev(lan, proto=TCP, between=(cli, srv)))
    c.row(f"{wan} records of the test", e["server_tx"] + e["server_rx"], c.ev(wan, proto=TCP, between=(cli, srv)))
    c.head("kernel counters (the daemon's report)")
    c.kernel_row(lan, "xdp_ingress", "tcp", e["client_tx"])
    c.kernel_row(wan, "xdp_ingress", "tcp", e["server_tx"])
    c.kernel_row(wan, "tc_egress", "tcp", e["server_rx"])
    flows = c.flows(proto=TCP, src=cli, dst=srv, dport=e["server_port"])
    data = [f for f in flows if f["sport"] == e["data_port"]]
    c.head("flows per interface (flow records on the stream)")
    c.row(f"flows {cli} -> {srv}:{e['server_port']} (control + data connection)", 2, len(flows))
    c.row(f"  first seen on {lan}", 2, sum(f["interface"] == lan for f in flows))
    c.row("  direction outbound", 2, sum(f["direction"] == "outbound" for f in flows))
    c.row("  conn_state SF (handshake and FIN both ways)", 2, sum(f["conn_state"] == "SF" for f in flows))
    for f in flows:
        if f["conn_state"] != "SF":
            c.note(f"flow {cli}:{f['sport']} -> {srv}:{e['server_port']}: conn_state {f['conn_state']}, "
                   f"history {f['history']}")
    c.row("data connection flow records", 1, len(data))
    c.row("packets client -> server, both flows (= client NIC tx)", e["client_tx"], sum(f["fwd_packets"] for f in flows))
    c.row("packets server -> client, both flows (= server NIC tx)", e["server_tx"], sum(f["bwd_packets"] for f in flows))
    seq = [t for *k, t in c.collected.get("tcp_seq", []) if k == [cli, e["data_port"], srv, e["server_port"]]]
    c.head("data connection bytes client -> server (the payload, counted by TCP sequence number and on the wire)")
    if len(data) == 1 and len(seq) == 1:
        d, t = data[0], seq[0]
        c.row(f"sequence space the payload covered ({lan} events' TCP seq) = iperf3 bytes sent + 37-byte cookie",
              e["bytes_sent"] + 37, t["covered"])
        c.row("retransmitted segments (events repeating sequence space) = iperf3 retransmits",
              e["retransmits"], t["retrans_segments"])
        c.row("flow record payload bytes = iperf3 bytes + 37 + retransmitted bytes (events)",
              e["bytes_sent"] + 37 + t["retrans_bytes"], d["fwd_payload"])
        c.row("flow record payload bytes = payload bytes of the events", t["wire"], d["fwd_payload"])
        c.row("flow record payload bytes server -> client", 0, d["bwd_payload"])
        c.note(f"data flow: {d['fwd_packets']} packets / {d['fwd_bytes']} frame bytes client -> server, "
               f"{d['bwd_packets']} / {d['bwd_bytes']} back; retransmitted: {t['retrans_segments']} segments, "
               f"{t['retrans_bytes']} bytes")
    else:
        c.row("data connection: flow records and tracked event streams", [1, 1], [len(data), len(seq)])
    k = c.report["kernel"]
    c.note(f"kernel: {k['records']} records, {k['ringbuf_full']} ring-full drops; "
           f"userspace: {c.report['userspace']['events_published']} events published")
    c.accounting()


SCENARIOS = {"host-based": host_based, "flood": flood, "gateway": gateway, "throughput": throughput}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--report", required=True)
    ap.add_argument("--collected", required=True)
    ap.add_argument("--expected", help="JSON file of expected figures computed by the scenario")
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--lab", default="lab")
    args = ap.parse_args()
    params = dict(p.split("=", 1) for p in args.param)
    try:
        with open(args.report) as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
        if len(lines) != 1:
            raise ValueError(f"expected one JSON line, got {len(lines)}")
        report = json.loads(lines[0])
        with open(args.collected) as f:
            collected = json.load(f)
        expected = None
        if args.expected:
            with open(args.expected) as f:
                expected = json.load(f)
    except (OSError, ValueError) as e:
        print(f"check.py: cannot read the sensor's output: {e}", file=sys.stderr)
        return 2
    c = Check(args.scenario, args.lab, report, collected, params, expected)
    SCENARIOS[args.scenario](c)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
