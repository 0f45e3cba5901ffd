"""Flow pieces shared by the flow e2e files (test_flows, test_kernel_flows, test_flow_reference):
the live lab's UDP and TCP flows and their expected records, the flood script.
Test modules do not import each other: what two of them use lives here."""
import ipaddress
import subprocess
import sys
from collections import defaultdict

from e2e_support import Addr, packed, random_ports, udp_send

DATAGRAMS = 5
# The two flow aggregation modes (flows.aggregation), for tests run in both.
AGGREGATION_MODES = ("userspace", "kernel")

FLOW_DIRECTION = {"INBOUND": 1, "OUTBOUND": 2, "TO_SENSOR": 3, "FROM_SENSOR": 4, "INTERNAL": 5}
END_FIN, END_SHUTDOWN = 1, 6

# path -> (client ns, server ns, {version: (client, server)}, interface of the first packet, direction)
PATHS = {
    "wan-to-lan": ("wan", "lan", {4: (Addr.WAN4_PEER, Addr.LAN4_PEER), 6: (Addr.WAN6_PEER, Addr.LAN6_PEER)},
                   "wan0", "INBOUND"),
    "wan-to-sensor": ("wan", "gw", {4: (Addr.WAN4_PEER, Addr.WAN4_GW), 6: (Addr.WAN6_PEER, Addr.WAN6_GW)},
                      "wan0", "TO_SENSOR"),
    "lan-to-wan": ("lan", "wan", {4: (Addr.LAN4_PEER, Addr.WAN4_PEER), 6: (Addr.LAN6_PEER, Addr.WAN6_PEER)},
                   "lan0", "OUTBOUND"),
}

TCP_SCRIPT = """
import socket, sys
mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
if mode == 'server':
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(1); print('ready', flush=True)
    c, _ = s.accept(); data = c.recv(1000); c.sendall(data * 2); c.close()
else:
    c = socket.create_connection((addr, port), timeout=5)
    c.sendall(b'x' * 100); got = b''
    while len(got) < 200:
        chunk = c.recv(1000)
        if not chunk: break
        got += chunk
    c.close(); print(len(got))
"""


def tcp_exchange(lab, client_ns, client_addr, server_ns, server_addr, port):
    """One TCP connection: the client sends 100 bytes, the server answers 200 and closes."""
    server = lab.popen(server_ns, [sys.executable, "-c", TCP_SCRIPT, "server", server_addr, port],
                       stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "ready"
    result = lab.exec(client_ns, [sys.executable, "-c", TCP_SCRIPT, "client", server_addr, port])
    assert result.stdout.strip() == "200", result.stdout + result.stderr
    server.wait(5)


def flow_key(version, a, a_port, b, b_port, proto):
    ends = sorted([(packed(a), a_port), (packed(b), b_port)])
    return (proto, version, ends[0], ends[1])


def record_key(r):
    return flow_key(r.ip_version, str_addr(r.src_addr), r.src_port, str_addr(r.dst_addr), r.dst_port, r.l4_protocol)


def str_addr(b):
    return str(ipaddress.ip_address(b))


def final_records(received):
    """{flow key: its record}; the test's flows have no updates and one final record each."""
    records = {}
    for r in received:
        assert not r.is_update
        key = record_key(r)
        assert key not in records, f"two final records for one flow: {r}"
        records[key] = r
    return records


def udp_flows(lab, echo_servers):
    """Sends DATAGRAMS echoed UDP datagrams on every path, IPv4 and IPv6. Returns the flows."""
    ports = random_ports(12)
    flows = []
    servers = defaultdict(list)
    for i, (path, (cns, sns, addrs, iface, direction)) in enumerate(PATHS.items()):
        for j, version in enumerate((4, 6)):
            k = 2 * i + j
            client, server = addrs[version]
            flows.append(dict(path=path, version=version, client_ns=cns, server_ns=sns, client=client,
                              server=server, sport=ports[2 * k], dport=ports[2 * k + 1], size=30 + 10 * k,
                              iface=iface, direction=direction))
            servers[sns].append((server, ports[2 * k + 1]))
    for ns, listens in servers.items():
        echo_servers.start(getattr(lab, ns), listens)
    for f in flows:
        udp_send(lab, getattr(lab, f["client_ns"]), f["client"], f["sport"], f["server"], f["dport"],
                 DATAGRAMS, f["size"])
    return flows


FLOOD_SCRIPT = """
import socket, sys
dst, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for port in range(first, first + count):
    s.sendto(b'x', (dst, port))
"""
