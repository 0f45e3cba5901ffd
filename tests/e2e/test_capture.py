"""Full-packet capture on demand end to end: the real daemon in the lab, `sniffer capture` over the
CURVE-authenticated control socket, known traffic through the gateway. The pcapng file the daemon
writes is read by tshark and compared frame by frame with what tcpdump captured on the same
interface at the same time; the packet and time limits stop captures on their own; a flow capture
holds both directions; a captures ring too small for a burst counts what it lost, in the file's
interface statistics blocks and in the metrics."""
import json
import os
import re
import signal
import stat
import struct
import subprocess
import time

import pytest

from e2e_support import Addr, EchoServers, packed, random_ports, run, scrape_until, udp_send, wait_log
from test_blocklist import control_socket

SNAPLEN_CUT = 100


def tshark_frames(path):
    """Every frame of a capture file as tshark reads it: (time ns, wire length, bytes, direction)."""
    out = run(["tshark", "-r", str(path), "-T", "json", "-x"]).stdout
    frames = []
    for packet in json.loads(out):
        layers = packet["_source"]["layers"]
        frame = layers["frame"]
        seconds, _, fraction = frame["frame.time_epoch"].partition(".")
        ts = int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0")[:9])
        frames.append((ts, int(frame["frame.len"]), bytes.fromhex(layers["frame_raw"][0]),
                       frame.get("frame.packet_flags_tree", {}).get("frame.packet_flags_direction")))
    return frames


def pcapng_blocks(path):
    """(block type, body) of every block: the file's layout, checked by hand as well as by tshark."""
    data = path.read_bytes()
    blocks, pos = [], 0
    while pos < len(data):
        kind, length = struct.unpack_from("<II", data, pos)
        assert length % 4 == 0 and length >= 12, f"block at {pos}: length {length}"
        assert struct.unpack_from("<I", data, pos + length - 4)[0] == length, f"block at {pos}: trailing length"
        blocks.append((kind, data[pos + 8:pos + length - 4]))
        pos += length
    return blocks


def options(body):
    """A block's options by code (the last of each), up to opt_endofopt."""
    found, pos = {}, 0
    while pos + 4 <= len(body):
        code, length = struct.unpack_from("<HH", body, pos)
        if code == 0:
            return found
        found[code] = body[pos + 4:pos + 4 + length]
        pos += 4 + (length + 3) // 4 * 4
    raise AssertionError("options without opt_endofopt")


def interface_statistics(path):
    """{interface name: {"recv", "ifdrop", "osdrop"}} from the IDBs and ISBs of a file."""
    names, stats = [], {}
    for kind, body in pcapng_blocks(path):
        if kind == 1:
            names.append(options(body[8:])[2].decode())
        elif kind == 5:
            opts = options(body[12:])
            iface = names[struct.unpack_from("<I", body)[0]]
            stats[iface] = {name: struct.unpack("<Q", opts[code])[0]
                            for name, code in (("recv", 4), ("ifdrop", 5), ("osdrop", 7))}
    return stats


@pytest.fixture
def capture_sensor(env, lab, start_daemon, tmp_path):
    """A sensor with a control socket and a capture directory; returns (daemon, capture(), directory)."""
    control, sensor_pub, client_key = control_socket(env, tmp_path, "analyst")
    directory = tmp_path / "state" / "captures"  # neither exists yet: the daemon creates both

    def start(**overrides):
        capture_section = {"full_packet_directory": str(directory), **overrides.pop("capture", {})}
        return start_daemon(control=control, capture=capture_section, **overrides)

    def capture(*args, refused=False):
        result = run([env.sniffer, "capture", "--endpoint", control["endpoint"], "--server-key", sensor_pub,
                      "--key-file", client_key, "--name", "e2e-analyst", *map(str, args)], check=False)
        assert (result.returncode != 0) == refused, result.stderr
        return result

    return start, capture, directory


def wait_file(path, timeout):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout} s"
        time.sleep(0.05)
    return time.monotonic()


def start_tcpdump(lab, interface, expression, path):
    proc = lab.popen(lab.gw, ["tcpdump", "-i", interface, "-n", "-s", "0", "-U", "--immediate-mode",
                              "--time-stamp-precision=nano", "-w", path, expression],
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    assert "listening on" in line, line
    return proc


def stop_tcpdump(proc):
    time.sleep(0.3)  # what is in flight reaches the file
    proc.send_signal(signal.SIGINT)
    proc.wait(10)


def test_a_capture_equals_tcpdump_on_the_same_interface_and_stops_at_its_packet_limit(env, lab, capture_sensor,
                                                                                     tmp_path):
    start, capture, directory = capture_sensor
    start()
    sizes, pings = (56, 1000, 1400), 5
    packets = len(sizes) * pings * 2  # each echo request enters wan0 (XDP), its reply leaves it (TC egress)
    tcpdump = start_tcpdump(lab, "wan0", f"icmp and host {Addr.WAN4_PEER}", tmp_path / "tcpdump.pcap")
    out = capture("--filter", f"host {Addr.WAN4_PEER} proto icmp interface wan0", "--packets", packets,
                  "--seconds", 60, "-w", "pings.pcapng")
    path = directory / "pings.pcapng"
    assert str(path) in out.stdout
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o750, "whole packets: the directory is not for everyone"
    assert not path.exists(), "the file is in place before the capture stopped"
    for size in sizes:
        lab.exec(lab.wan, ["ping", "-n", "-q", "-c", pings, "-i", "0.2", "-W", 1, "-s", size, Addr.LAN4_PEER])
    wait_file(path, 5)  # the packet limit stopped it, long before its 60 s
    # More of the same traffic: tcpdump sees it, the stopped capture does not.
    assert lab.ping(lab.wan, Addr.LAN4_PEER, count=2, wait=1).returncode == 0
    stop_tcpdump(tcpdump)

    run(["capinfos", str(path)])  # a valid file for Wireshark's reader
    ours, theirs = tshark_frames(path), tshark_frames(tmp_path / "tcpdump.pcap")
    assert len(ours) == packets and len(theirs) == packets + 4
    theirs = theirs[:packets]
    assert [(length, data) for _, length, data, _ in ours] == [(length, data) for _, length, data, _ in theirs]
    worst = max(abs(a[0] - b[0]) for a, b in zip(ours, theirs))
    assert worst < 1_000_000, f"timestamps differ by up to {worst} ns"
    print(f"timestamps: ours - tcpdump's within {worst} ns")
    # Requests in, replies out, as epb_flags says (tshark: 1 inbound, 2 outbound).
    assert [int(d, 16) for *_, d in ours] == [1, 2] * (packets // 2)

    blocks = pcapng_blocks(path)
    idbs = {options(body[8:])[2].decode(): options(body[8:]) for kind, body in blocks if kind == 1}
    assert set(idbs) == {"wan0", "lan0"}
    assert idbs["wan0"][1] == b"role wan, mode host-based" and idbs["lan0"][1] == b"role lan, mode gateway"
    assert all(opts[9] == b"\x09" for opts in idbs.values())  # if_tsresol: nanoseconds
    stats = interface_statistics(path)
    assert stats["wan0"] == {"recv": packets, "ifdrop": 0, "osdrop": 0} and stats["lan0"]["recv"] == 0


def test_a_flow_capture_holds_both_directions_cut_at_its_snap_length_and_stops_at_its_time_limit(
        env, lab, capture_sensor, tmp_path):
    start, capture, directory = capture_sensor
    start()
    sport, dport, other, other_sport = random_ports(4)
    echo = EchoServers(lab)
    try:
        echo.start(lab.lan, [(Addr.LAN4_PEER, dport), (Addr.LAN4_PEER, other)])
        begun = time.monotonic()
        capture("--filter", f"flow udp {Addr.WAN4_PEER}:{sport} {Addr.LAN4_PEER}:{dport}", "--seconds", 2,
                "--snaplen", SNAPLEN_CUT, "-w", "flow.pcapng")
        udp_send(lab, lab.wan, Addr.WAN4_PEER, sport, Addr.LAN4_PEER, dport, 5, 300)
        udp_send(lab, lab.wan, Addr.WAN4_PEER, sport, Addr.LAN4_PEER, other, 3, 300)  # another flow
        udp_send(lab, lab.wan, Addr.WAN4_PEER, other_sport, Addr.LAN4_PEER, dport, 3, 300)  # and another
    finally:
        echo.close()
    ended = wait_file(directory / "flow.pcapng", 6)
    assert 2 <= ended - begun < 4, "the 2 s limit did not stop the capture on time"
    frames = tshark_frames(directory / "flow.pcapng")
    # Both directions on both interfaces: wan0 in (XDP) and out (TC egress), lan0 in (XDP; the
    # echo); the request leaving lan0 has no hook there (lan0 has XDP only).
    assert len(frames) == 5 * 3
    assert all(len(data) == SNAPLEN_CUT and length == 14 + 20 + 8 + 300 for _, length, data, _ in frames)
    sources = [data[26:30] for _, _, data, _ in frames]  # the IPv4 source address
    assert sources.count(packed(Addr.WAN4_PEER)) == 5 and sources.count(packed(Addr.LAN4_PEER)) == 10


def udp_burst(lab, dport, sport, count):
    """count 1,400-byte UDP datagrams from the WAN peer to the LAN peer, as fast as Python sends."""
    sender = ("import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
              "s.bind(('0.0.0.0',int(sys.argv[3])))\n"
              "for _ in range(int(sys.argv[4])): s.sendto(b'b'*1400,(sys.argv[1],int(sys.argv[2])))\n")
    lab.exec(lab.wan, ["python3", "-c", sender, Addr.LAN4_PEER, dport, sport, count])


def test_a_full_disk_stops_the_capture_not_the_sensor(env, lab, capture_sensor, tmp_path):
    """A capture directory with no room left (a 64 KiB tmpfs): the capture stops at its first
    write error, its temporary file removed, and is counted; the daemon goes on, and a later
    capture that fits writes its file."""
    start, capture, _ = capture_sensor
    full = tmp_path / "full"
    full.mkdir()
    run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(full)])
    try:
        port = 20000 + (os.getpid() + 7) % 20000
        # No room kept: this is what a write error does (the next test keeps room).
        daemon = start(capture={"full_packet_directory": str(full / "captures"), "keep_free_bytes": 0},
                       metrics={"listen": f"127.0.0.1:{port}"})
        sport, dport = random_ports(2)
        capture("--filter", f"proto udp port {dport} interface wan0", "--packets", 5000, "--seconds", 30,
                "-w", "big.pcapng")
        udp_burst(lab, dport, sport, 1500)  # ~2 MB of frames: past the session's 1 MiB buffer
        samples = scrape_until(lab, port, lambda s: s.get("sniffer_captures_failed_total") == 1)
        assert samples["sniffer_captures_failed_total"] == 1 and samples["sniffer_captures_running"] == 0, (
            daemon.stderr()[-3000:], {k: v for k, v in samples.items() if "capture" in k}, os.listdir(full / "captures"))
        assert daemon.proc.poll() is None, "the daemon stopped"
        assert os.listdir(full / "captures") == [], "a partial capture file was left"
        assert "stopped, no file written" in daemon.stderr()

        capture("--filter", f"proto udp port {dport} interface wan0", "--packets", 3, "-w", "small.pcapng")
        udp_burst(lab, dport, sport, 3)
        wait_file(full / "captures" / "small.pcapng", 5)
        assert len(tshark_frames(full / "captures" / "small.pcapng")) == 3
        daemon.stop()
    finally:
        run(["umount", "-l", str(full)], check=False)


def test_captures_leave_keep_free_bytes_free_and_keep_what_they_wrote(env, lab, capture_sensor, tmp_path):
    """A 4 MiB tmpfs keeping 2 MiB free: a capture of ~3.5 MB of frames stops early with its file
    kept (a valid pcapng, its statistics adding up), counted; the next capture is refused with a
    reply naming the key; the room left is never under what one poll can write past the bound."""
    start, capture, _ = capture_sensor
    small = tmp_path / "small"
    small.mkdir()
    run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(small)])
    try:
        directory = small / "captures"
        port = 20000 + (os.getpid() + 11) % 20000
        daemon = start(capture={"full_packet_directory": str(directory), "keep_free_bytes": 2 << 20},
                       metrics={"listen": f"127.0.0.1:{port}"})
        sport, dport = random_ports(2)
        capture("--filter", f"proto udp port {dport} interface wan0", "--packets", 5000, "--seconds", 30,
                "-w", "big.pcapng")
        burst = 2500  # 1,400-byte datagrams: ~3.6 MB of frames, more than the 2 MiB the capture may use
        udp_burst(lab, dport, sport, burst)
        wait_file(directory / "big.pcapng", 10)
        samples = scrape_until(lab, port, lambda s: s.get("sniffer_captures_out_of_room_total") == 1)
        assert samples["sniffer_captures_failed_total"] == 0 and samples["sniffer_captures_running"] == 0, samples
        assert "stopped early, its file kept" in daemon.stderr() and "capture.keep_free_bytes" in daemon.stderr()
        assert "past the packet limit" not in daemon.stderr(), daemon.stderr()  # 5,000: not reached
        written = len(tshark_frames(directory / "big.pcapng"))
        stats = interface_statistics(directory / "big.pcapng")["wan0"]
        assert 0 < written < burst, written
        assert stats["ifdrop"] + written + stats["osdrop"] == stats["recv"], (stats, written)
        free = os.statvfs(small).f_bavail * os.statvfs(small).f_frsize
        assert free > 0, "the filesystem filled up"
        print(f"{written} of {burst} frames written before the bound; {free} bytes left free; {stats}")

        refused = capture("--filter", f"proto udp port {dport}", "--packets", 3, "-w", "next.pcapng",
                          refused=True).stderr
        assert "capture.keep_free_bytes" in refused and str(directory) in refused, refused
        assert not (directory / "next.pcapng").exists()
        assert daemon.proc.poll() is None, "the daemon stopped"
        daemon.stop()
    finally:
        run(["umount", "-l", str(small)], check=False)


def test_a_small_captures_ring_counts_what_a_burst_loses_in_the_file_and_the_metrics(env, lab, capture_sensor,
                                                                                     tmp_path):
    start, capture, directory = capture_sensor
    port = 20000 + os.getpid() % 20000
    daemon = start(capture={"full_packet_ring_bytes": 8192}, metrics={"listen": f"127.0.0.1:{port}"})
    sport, dport = random_ports(2)
    capture("--filter", f"proto udp port {dport} interface wan0", "--seconds", 3, "-w", "burst.pcapng")
    burst = 400
    udp_burst(lab, dport, sport, burst)
    wait_file(directory / "burst.pcapng", 6)
    stats = interface_statistics(directory / "burst.pcapng")["wan0"]
    written = len(tshark_frames(directory / "burst.pcapng"))
    assert stats["recv"] == burst, stats
    assert stats["ifdrop"] > 0 and written > 0, (stats, written)
    assert stats["ifdrop"] + written + stats["osdrop"] == burst, (stats, written)
    print(f"a burst of {burst} through a {8192}-byte captures ring: {written} written, {stats}")
    samples = scrape_until(lab, port, lambda s: s.get("sniffer_captures_started_total") == 1 and
                           s.get("sniffer_captures_running") == 0)
    assert samples["sniffer_captures_started_total"] == 1 and samples["sniffer_captures_running"] == 0
    assert samples['sniffer_capture_packets_total{result="ring_full"}'] == stats["ifdrop"]
    assert samples['sniffer_capture_packets_total{result="written"}'] == written
    assert samples['sniffer_capture_packets_total{result="not_written"}'] == stats["osdrop"]
    assert f"({burst} matched; {stats['ifdrop']} lost, the captures ring was full" in daemon.stderr()


def test_a_capture_never_follows_or_replaces_what_is_in_its_directory(env, lab, capture_sensor, tmp_path):
    """The daemon writes captures as root: a name already taken in the directory is refused,
    a dangling symbolic link included (opening it would create its target wherever it
    points), and nothing is written through it."""
    start, capture, directory = capture_sensor
    daemon = start()
    capture("--filter", "proto icmp", "--packets", 1, "--seconds", 1, "-w", "first.pcapng")
    wait_file(directory / "first.pcapng", 5)  # the directory exists now
    outside = tmp_path / "outside" / "planted.pcapng"
    outside.parent.mkdir()
    (directory / "trap.pcapng").symlink_to(outside)
    taken = directory / "taken.pcapng"
    taken.write_bytes(b"keep me")
    for name, why in (("trap.pcapng", "a symbolic link"), ("taken.pcapng", "exists")):
        result = run([env.sniffer, "capture", "--endpoint", f"ipc://{tmp_path}/control.sock", "--server-key",
                      tmp_path / "sensor.pub", "--key-file", tmp_path / "analyst.key", "--name", "e2e-analyst",
                      "--filter", "proto icmp", "-w", name], check=False)
        assert result.returncode != 0, f"{name}: the capture started"
        assert why in result.stderr and str(directory / name) in result.stderr, result.stderr
    lab.ping(lab.wan, Addr.WAN4_GW, count=2)
    assert not outside.exists(), "a capture was written through the symbolic link"
    assert taken.read_bytes() == b"keep me"
    assert daemon.running()


def test_a_name_planted_while_a_capture_runs_is_neither_followed_nor_replaced(env, lab, capture_sensor, tmp_path):
    """Captures.start refuses a taken name, but the file is renamed into place when the capture
    stops: a symbolic link planted there meanwhile must not be followed nor replaced (rename(2)
    replaced it). The capture fails, counted; the link and what it points to stay as they were."""
    start, capture, directory = capture_sensor
    port = 20000 + (os.getpid() + 13) % 20000
    daemon = start(metrics={"listen": f"127.0.0.1:{port}"})
    capture("--filter", "proto icmp", "--packets", 1, "--seconds", 1, "-w", "first.pcapng")
    wait_file(directory / "first.pcapng", 5)  # the directory exists now
    outside = tmp_path / "outside" / "planted.pcapng"
    outside.parent.mkdir()
    capture("--filter", "proto icmp", "--seconds", 2, "-w", "race.pcapng")
    (directory / "race.pcapng").symlink_to(outside)
    lab.ping(lab.wan, Addr.WAN4_GW, count=2)
    samples = scrape_until(lab, port, lambda s: s.get("sniffer_captures_failed_total") == 1, timeout=8)
    assert samples.get("sniffer_captures_failed_total") == 1, daemon.stderr()[-2000:]
    assert (directory / "race.pcapng").is_symlink(), "the planted link was replaced"
    assert not outside.exists(), "a capture was written through the planted link"
    assert "never over an existing name" in daemon.stderr()
    assert [p.name for p in directory.iterdir() if p.name.startswith(".")] == [], "a temporary file was left"
    assert daemon.running()


def test_a_killed_capture_leaves_nothing_and_old_temporary_files_go_at_the_next_start(env, lab, capture_sensor,
                                                                                     tmp_path):
    """SIGKILL during a capture leaves no file (it is an unnamed O_TMPFILE file until it stops). A
    temporary file of the pattern (.NAME.XXXXXX: left by an older sensor, or where the file system
    has no O_TMPFILE) is removed at the next start (the directory is not in use by another sensor),
    and nothing else: a finished capture, a file of another name, a link of the pattern stay."""
    start, capture, directory = capture_sensor
    daemon = start()
    capture("--filter", "proto icmp", "--packets", 1, "--seconds", 1, "-w", "done.pcapng")
    wait_file(directory / "done.pcapng", 5)
    # Its summary: what it lost nothing to is not named ("0 lost: the captures ring was full" was).
    assert wait_log(daemon, f"written to {directory / 'done.pcapng'} ("), daemon.stderr()[-1500:]
    assert re.search(r"done\.pcapng \(\d+ matched\)\n", daemon.stderr()), daemon.stderr()[-1500:]
    capture("--filter", "proto icmp", "--seconds", 60, "-w", "killed.pcapng")
    pid = daemon.proc.pid
    assert any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(f"{directory}/#")
               for fd in os.listdir(f"/proc/{pid}/fd")), "the capture is not an unnamed file"
    assert sorted(p.name for p in directory.iterdir()) == ["done.pcapng"]
    daemon.proc.kill()
    daemon.proc.wait()
    assert sorted(p.name for p in directory.iterdir()) == ["done.pcapng"], "the killed capture left a file"
    older = directory / ".killed.pcapng.Xy12Zw"
    older.write_bytes(b"\x0a\x0d\x0d\x0a")
    (directory / ".notes").write_text("someone's")
    (directory / ".link.pcapng.Ab12Cd").symlink_to(directory / "done.pcapng")
    daemon = start()
    assert not older.exists(), "the old temporary file is still there"
    assert f"removed {older.name}" in daemon.stderr()
    assert sorted(p.name for p in directory.iterdir()) == [".link.pcapng.Ab12Cd", ".notes", "done.pcapng"]
    daemon.stop()
