"""publish.curve: the real daemon publishes over ZeroMQ CURVE. Only a subscriber whose key is
in the authorized keys file, and that knows the sensor's public key, receives the stream; the
others receive nothing, and the refusals are counted (metrics, final report) and logged once.
A secret key file that group or other can read is refused at start, by name."""
import json
import os
import signal
import stat
import subprocess
import time

import pytest

from e2e_support import (Addr, Daemon, Subscriber, lab_config, random_ports, run, scrape, udp_send, wait_log,
                         warm_up)

DATAGRAMS = 5


def keygen(env, prefix):
    """`sniffer keygen --out PREFIX` -> (public, secret) Z85 keys, as the files hold them."""
    result = run([env.sniffer, "keygen", "--out", prefix])
    public = open(f"{prefix}.pub").read().strip()
    assert result.stdout.strip() == public
    secret = [line for line in open(f"{prefix}.key").read().splitlines() if not line.startswith("#")]
    assert len(secret) == 1
    return public, secret[0]


@pytest.fixture
def keys(env, tmp_path):
    """The sensor's key pair, an authorized subscriber ("alice"), an unlisted one ("mallory"),
    and the authorized keys file (alice only)."""
    k = {name: keygen(env, tmp_path / name) for name in ("sensor", "alice", "mallory")}
    authorized = tmp_path / "subscribers"
    authorized.write_text(f"# who may subscribe\n{k['alice'][0]}  # alice\n")
    k["curve"] = {"secret_key_file": str(tmp_path / "sensor.key"), "authorized_keys_file": str(authorized)}
    return k


def curve_of(keys, server, client):
    return (keys[server][0], keys[client][0], keys[client][1])


@pytest.fixture
def subscribers():
    started = []

    def make(*args, **kwargs):
        sub = Subscriber(*args, **kwargs)
        started.append(sub)
        return sub

    yield make
    for sub in started:
        if not sub.stopping.is_set():
            sub.stopping.set()
            sub.thread.join(2)
            sub.sock.close()
            sub.ctx.term()




def test_keygen_writes_a_private_key_once(env, tmp_path):
    public, secret = keygen(env, tmp_path / "k")
    assert stat.S_IMODE(os.stat(tmp_path / "k.key").st_mode) == 0o600
    assert len(public) == len(secret) == 40
    again = run([env.sniffer, "keygen", "--out", tmp_path / "k"], check=False)
    assert again.returncode == 1 and "already exists" in again.stderr, again.stderr
    assert open(tmp_path / "k.pub").read().strip() == public  # untouched


def test_only_the_authorized_subscriber_receives(lab, env, start_daemon, subscribers, keys, echo_servers):
    port = 9750 + random_ports(1)[0] % 1000
    daemon = start_daemon(publish={"curve": keys["curve"]}, metrics={"listen": f"127.0.0.1:{port}"})
    alice = subscribers(env, daemon.endpoint, curve=curve_of(keys, "sensor", "alice"))
    mallory = subscribers(env, daemon.endpoint, curve=curve_of(keys, "sensor", "mallory"))
    mallory_again = subscribers(env, daemon.endpoint, curve=curve_of(keys, "sensor", "mallory"))
    fooled = subscribers(env, daemon.endpoint, curve=curve_of(keys, "mallory", "alice"))  # wrong server key
    plain = subscribers(env, daemon.endpoint)  # no CURVE at all
    warm_up(lab, alice.count)

    # Real events of a known flow, decoded by the authorized subscriber.
    sport, dport = random_ports(2)
    echo_servers.start(lab.lan, [(Addr.LAN4_PEER, dport)])
    udp_send(lab, lab.wan, Addr.WAN4_PEER, sport, Addr.LAN4_PEER, dport, DATAGRAMS, 32)
    ours = lambda events: [e for e in events if e.l4_protocol == 17 and {e.src_port, e.dst_port} == {sport, dport}]
    assert alice.wait_for(lambda events: len(ours(events)) >= 3 * DATAGRAMS, timeout=5), alice.count()
    time.sleep(2.0)  # the others had every chance
    assert (mallory.count(), mallory_again.count(), fooled.count(), plain.count()) == (0, 0, 0, 0)
    assert alice.batches[0].sensor_id == "e2e"

    time.sleep(1.2)  # the metrics text is refreshed every second
    _, m = scrape(lab, port)
    assert m['sniffer_auth_total{domain="publish",result="accepted"}'] >= 1, m
    assert m['sniffer_auth_total{domain="publish",result="refused"}'] >= 1, m

    report = daemon.stop()
    auth = report["userspace"]["auth"]["publish"]
    assert auth["accepted"] >= 1 and auth["refused"] >= m['sniffer_auth_total{domain="publish",result="refused"}']
    log = daemon.stderr()
    assert f"this sensor's public key is {keys['sensor'][0]}" in log, log
    assert "unauthenticated" not in log, log
    # Mallory came twice (each refusal counted), but is logged once a minute at most.
    assert auth["refused"] >= 2, auth
    refused_lines = [line for line in log.splitlines() if "refused CURVE client" in line]
    assert len(refused_lines) == 1 and keys["mallory"][0] in refused_lines[0], refused_lines
    assert f"accepted CURVE client {keys['alice'][0]}" in log, log
    for sub in (alice, mallory, mallory_again, fooled, plain):
        sub.stop(quiet=0)


def sighup(daemon, outcome):
    """SIGHUP; True once the daemon logs one more line containing `outcome`."""
    before = daemon.stderr().count(outcome)
    daemon.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while daemon.stderr().count(outcome) == before:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def test_sighup_rereads_the_authorized_keys(lab, env, start_daemon, subscribers, keys, tmp_path):
    """A key removed from the file and SIGHUP: new handshakes with it are refused (counted), and
    the connections admitted before are cut so that every subscriber authenticates again; a still
    listed key keeps receiving. A file with a bad line is rejected at SIGHUP and the keys stay."""
    bob = keygen(env, tmp_path / "bob")
    authorized = tmp_path / "subscribers"
    authorized.write_text(f"{keys['alice'][0]}  # alice\n{bob[0]}  # bob\n")
    keys["bob"] = bob
    port = 9750 + random_ports(1)[0] % 1000
    daemon = start_daemon(publish={"curve": keys["curve"]}, metrics={"listen": f"127.0.0.1:{port}"})
    alice = subscribers(env, daemon.endpoint, curve=curve_of(keys, "sensor", "alice"))
    old_bob = subscribers(env, daemon.endpoint, curve=curve_of(keys, "sensor", "bob"))
    warm_up(lab, alice.count)
    warm_up(lab, old_bob.count)

    authorized.write_text(f"{bob[0]}  # bob\n")  # alice revoked
    assert sighup(daemon, "reload: applied"), daemon.stderr()
    log = daemon.stderr()
    assert f'"publish": 1 authorized key(s) from "{authorized}" (1 removed)' in log, log
    assert "cut all 2 subscriber connection(s)" in log, log
    new_alice = subscribers(env, daemon.endpoint, curve=curve_of(keys, "sensor", "alice"))
    new_bob = subscribers(env, daemon.endpoint, curve=curve_of(keys, "sensor", "bob"))
    time.sleep(1.0)  # reconnections and handshakes settle; what was in flight arrives
    alice_before, old_bob_before = alice.count(), old_bob.count()
    warm_up(lab, new_bob.count)
    warm_up(lab, lambda: old_bob.count() - old_bob_before)  # reconnected by itself, admitted again
    time.sleep(0.5)
    assert (new_alice.count(), alice.count() - alice_before) == (0, 0)

    # A bad line: the reload is rejected, naming the file and line; bob's key still works.
    authorized.write_text(f"{bob[0]}  # bob\nnot-a-key\n")
    assert sighup(daemon, "reload rejected"), daemon.stderr()
    rejected = daemon.stderr().rsplit("reload rejected", 1)[1]  # the problems follow, one a line
    assert f"authorized_keys_file: {authorized}:2: not a CURVE key" in rejected, rejected
    bob_again = subscribers(env, daemon.endpoint, curve=curve_of(keys, "sensor", "bob"))
    warm_up(lab, bob_again.count)

    time.sleep(1.2)  # the metrics text is refreshed every second
    _, m = scrape(lab, port)
    # alice's new connection and the old one's reconnection: both refused.
    assert m['sniffer_auth_total{domain="publish",result="refused"}'] >= 1, m
    assert wait_log(daemon, f"refused CURVE client {keys['alice'][0]}"), daemon.stderr()
    daemon.stop()
    for sub in (alice, old_bob, new_alice, new_bob, bob_again):
        sub.stop(quiet=0)


def test_sighup_rereads_the_control_clients_keys(env, start_daemon, tmp_path):
    """control.curve.authorized_keys_file: a key removed and SIGHUP, the client's next command is refused."""
    from test_blocklist import control_socket
    control, sensor_pub, detector_key = control_socket(env, tmp_path, "detector")
    daemon = start_daemon(control=control, blocklist={"roles": ["wan"]})

    def block_list():
        return run([env.sniffer, "block", "--endpoint", control["endpoint"], "--server-key", sensor_pub, "--key-file",
                    detector_key, "--timeout-ms", "2000", "list"], check=False)

    assert block_list().returncode == 0
    authorized = control["curve"]["authorized_keys_file"]
    with open(authorized, "w") as f:
        f.write("# nobody\n")
    assert sighup(daemon, "reload: applied"), daemon.stderr()
    assert f'"control": 0 authorized key(s) from "{authorized}" (1 removed)' in daemon.stderr()
    assert block_list().returncode != 0
    assert wait_log(daemon, 'auth: "control": refused CURVE client'), daemon.stderr()
    daemon.stop()


def test_a_revoked_control_key_is_refused_on_its_open_connection(env, start_daemon, tmp_path):
    """Red team R12-11: a detector's connection admitted before the SIGHUP that removed its key
    went on blocking (ZeroMQ checks keys at the handshake only). Each request now asks."""
    from test_blocklist import control_socket
    from test_control_hostile import curve_socket
    control, sensor_pub, detector_key = control_socket(env, tmp_path, "detector")
    daemon = start_daemon(control=control, blocklist={"roles": ["wan"]})
    ctx, req = curve_socket(env, env.zmq.REQ, control["endpoint"], sensor_pub, detector_key)

    def block(prefix):
        request = env.pb2.ControlRequest()
        request.block.prefix = prefix
        request.block.duration_s = 60
        req.send(request.SerializeToString())
        reply = env.pb2.ControlReply()
        reply.ParseFromString(req.recv())
        return reply

    try:
        assert block("198.18.0.2/32").status == env.pb2.ControlReply.OK
        with open(control["curve"]["authorized_keys_file"], "w") as f:
            f.write("# nobody\n")
        assert sighup(daemon, "reload: applied"), daemon.stderr()
        refused = block("198.18.0.3/32")  # the same connection, still open
        assert refused.status == env.pb2.ControlReply.REFUSED, refused
        assert "no longer in control.curve.authorized_keys_file" in refused.error
        assert wait_log(daemon, "refused: its key was removed at a reload (block)"), daemon.stderr()
    finally:
        req.close()
        ctx.term()
    assert "198.18.0.2/32" in daemon.stderr() and "198.18.0.3" not in daemon.stderr(), daemon.stderr()[-3000:]
    daemon.stop()


def test_a_control_keys_comment_changed_at_a_reload_names_it_from_then_on(env, start_daemon, tmp_path):
    """The base read the comments of control.curve.authorized_keys_file once, at start: a key
    relabelled in the file and a SIGHUP still put the old name into the log and into the origin of
    every later block. The reload now reads them again."""
    from test_blocklist import control_socket
    from test_control_hostile import curve_socket
    control, sensor_pub, detector_key = control_socket(env, tmp_path, "detector")
    authorized = control["curve"]["authorized_keys_file"]
    public = open(tmp_path / "detector.pub").read().strip()
    with open(authorized, "w") as f:
        f.write(f"{public}  # old-label\n")
    daemon = start_daemon(control=control, blocklist={"roles": ["wan"]})
    ctx, req = curve_socket(env, env.zmq.REQ, control["endpoint"], sensor_pub, detector_key)

    def ask(fill):
        request = env.pb2.ControlRequest(requester="e2e")
        fill(request)
        req.send(request.SerializeToString())
        reply = env.pb2.ControlReply()
        reply.ParseFromString(req.recv())
        return reply

    def block(prefix):
        def fill(request):
            request.block.prefix, request.block.duration_s = prefix, 60
        return ask(fill)

    try:
        assert block("198.18.0.2/32").status == env.pb2.ControlReply.OK
        with open(authorized, "w") as f:
            f.write(f"{public}  # new-label\n")
        assert sighup(daemon, "reload: applied"), daemon.stderr()
        assert block("198.18.0.3/32").status == env.pb2.ControlReply.OK
        listed = ask(lambda request: request.list.SetInParent())
    finally:
        req.close()
        ctx.term()
    origins = {e.prefix: e.origin for e in listed.entries}
    assert "old-label" in origins["198.18.0.2/32"], origins  # its origin is what it was when added
    assert "new-label" in origins["198.18.0.3/32"] and "old-label" not in origins["198.18.0.3/32"], origins
    after = daemon.stderr().split("reload: applied", 1)[1]
    assert "new-label" in after and "old-label" not in after, after
    daemon.stop()


def test_sniffer_sub_with_keys(lab, env, start_daemon, keys, tmp_path):
    daemon = start_daemon(publish={"curve": keys["curve"]}, metrics={"listen": ""})
    common = [env.sniffer_sub, "--connect", daemon.endpoint, "--server-key", tmp_path / "sensor.pub"]
    with open(tmp_path / "alice.out", "w") as out, open(tmp_path / "mallory.err", "w") as err:
        good = subprocess.Popen([*map(str, common), "--key-file", str(tmp_path / "alice.key"), "--count", "1",
                                 "--timeout", "20"], stdout=out, stderr=subprocess.PIPE, text=True)
        bad = subprocess.Popen([*map(str, common), "--key-file", str(tmp_path / "mallory.key"), "--timeout", "4"],
                               stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            warm_up(lab, lambda: len((tmp_path / "alice.out").read_text()))
            assert good.wait(10) == 0, good.stderr.read()
            assert bad.wait(10) == 1  # refused: libzmq does not retry, so neither does sniffer-sub
        finally:
            for proc in (good, bad):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    event = json.loads((tmp_path / "alice.out").read_text().splitlines()[0])
    assert event["interface"] in ("wan0", "lan0"), event
    assert bad.stdout.read() == ""
    assert "the sensor refused this subscriber's key (ZAP status 400)" in (tmp_path / "mallory.err").read_text()
    daemon.stop()

    # A group-readable subscriber key is refused like the sensor's.
    os.chmod(tmp_path / "alice.key", 0o640)
    result = run([*common, "--key-file", tmp_path / "alice.key", "--timeout", "1"], check=False)
    assert result.returncode == 1 and "mode 0640" in result.stderr, result.stderr


def block_with(env, control, sensor_pub, key_file, *command):
    """`sniffer block ... COMMAND` with the client key `key_file` -> its exit code."""
    return run([env.sniffer, "block", "--endpoint", control["endpoint"], "--server-key", sensor_pub, "--key-file",
                key_file, "--name", "e2e", "--timeout-ms", "2000", *command], check=False).returncode


def test_control_keys_in_a_directory_another_user_owns_are_refused_at_start(env, tmp_path):
    """Red team R17-4: the authorized keys file's directory was judged by its mode alone: one
    owned by another user (mode 0755) passed, and its owner could replace the file (sshd's
    StrictModes refuses such a directory)."""
    from test_blocklist import control_socket
    control, _, _ = control_socket(env, tmp_path, "detector")
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    authorized = theirs / "detectors"
    os.rename(control["curve"]["authorized_keys_file"], authorized)  # root's file, 0644
    os.chown(theirs, 65534, 65534)
    control["curve"]["authorized_keys_file"] = str(authorized)
    config = tmp_path / "sniffer.json"
    config.write_text(json.dumps(lab_config(f"ipc://{tmp_path}/s.sock", control=control)))
    result = run([env.sniffer, "--config", config], check=False, timeout=10)
    assert result.returncode == 1, result.stderr
    assert (f'control.curve.authorized_keys_file: authorized keys file "{authorized}": its directory "{theirs}" is '
            f'owned by uid 65534, who could replace it; refusing it (chown root "{theirs}")') in result.stderr, \
        result.stderr


def test_a_control_keys_link_re_pointed_by_another_user_is_refused_at_reload(env, start_daemon, tmp_path):
    """Red team R17-4 (rt/trust.sh): control.curve.authorized_keys_file a link, in a directory that
    then belongs to another user; that user re-points it at the subscribers' list (root's too) and a
    SIGHUP made the subscriber a control client that adds blocks. The reload is now rejected, naming
    the directory, and the detector's key alone still commands."""
    from test_blocklist import control_socket
    control, sensor_pub, detector_key = control_socket(env, tmp_path, "detector")
    subscriber_pub, _ = keygen(env, tmp_path / "subscriber")
    subscribers_file = tmp_path / "subscribers"
    subscribers_file.write_text(f"{subscriber_pub}  # subscriber\n")
    way = tmp_path / "way"
    way.mkdir(mode=0o755)
    link = way / "detectors"
    os.symlink(control["curve"]["authorized_keys_file"], link)  # a link to a trusted file from a trusted directory
    control["curve"]["authorized_keys_file"] = str(link)
    daemon = start_daemon(control=control, blocklist={"roles": ["wan"]},
                          publish={"curve": {"secret_key_file": control["curve"]["secret_key_file"],
                                             "authorized_keys_file": str(subscribers_file)}})
    subscriber_key = str(tmp_path / "subscriber.key")
    assert block_with(env, control, sensor_pub, detector_key, "list") == 0
    assert block_with(env, control, sensor_pub, subscriber_key, "add", "203.0.113.7", "--duration", "60") != 0

    os.chown(way, 65534, 65534)
    # As uid 65534, from inside its directory (the test's ancestors are root's, mode 0700).
    run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c",
         f"mv detectors old && ln -s {subscribers_file} detectors"], cwd=way)
    assert os.readlink(link) == str(subscribers_file)
    assert sighup(daemon, "reload rejected"), daemon.stderr()[-3000:]
    rejected = daemon.stderr().rsplit("reload rejected", 1)[1]
    assert (f'control.curve.authorized_keys_file: authorized keys file "{link}": its directory "{way}" is owned by '
            f'uid 65534, who could replace it; refusing it (chown root "{way}")') in rejected, rejected
    assert block_with(env, control, sensor_pub, subscriber_key, "add", "203.0.113.7", "--duration", "60") != 0
    assert block_with(env, control, sensor_pub, detector_key, "list") == 0
    assert "203.0.113.7" not in daemon.stderr(), daemon.stderr()[-3000:]
    daemon.stop()


def test_group_readable_secret_key_is_refused(env, keys, tmp_path):
    key_file = keys["curve"]["secret_key_file"]
    os.chmod(key_file, 0o640)
    config = tmp_path / "sniffer.json"
    config.write_text(json.dumps(lab_config(f"ipc://{tmp_path}/s.sock", publish={"curve": keys["curve"]})))
    result = run([env.sniffer, "--config", config], check=False, timeout=10)
    assert result.returncode == 1, result.stderr
    assert f'publish.curve.secret_key_file: secret key file "{key_file}": mode 0640' in result.stderr, result.stderr


def test_a_public_key_file_given_as_the_secret_key_is_named(env, keys, tmp_path):
    """sensor.pub instead of sensor.key: named as a public key file, not refused for its mode
    0644 with advice to chmod it."""
    config = tmp_path / "sniffer.json"
    curve = dict(keys["curve"], secret_key_file=str(tmp_path / "sensor.pub"))
    config.write_text(json.dumps(lab_config(f"ipc://{tmp_path}/s.sock", publish={"curve": curve})))
    result = run([env.sniffer, "--config", config, "--print-config"], check=False, timeout=10)
    assert result.returncode == 1, result.stderr
    assert (f'publish.curve.secret_key_file: "{tmp_path}/sensor.pub" is a public key file (sniffer keygen\'s '
            f'PREFIX.pub); give the secret key file "{tmp_path}/sensor.key"') in result.stderr, result.stderr
    assert "chmod" not in result.stderr


def test_sniffer_sub_without_keys_says_the_sensor_requires_curve(lab, env, start_daemon, keys):
    """A plaintext sniffer-sub against a CURVE publisher: not a silent wait, but a message saying
    the sensor requires CURVE, and exit 1."""
    daemon = start_daemon(publish={"curve": keys["curve"]}, metrics={"listen": ""})
    started = time.monotonic()
    result = run([env.sniffer_sub, "--connect", daemon.endpoint, "--timeout", "5"], check=False, timeout=15)
    assert result.returncode == 1, result.stderr
    assert "the sensor requires CURVE (publish.curve): give --server-key" in result.stderr, result.stderr
    assert result.stdout == ""
    assert time.monotonic() - started < 5, "the handshake failure is known at once"
    daemon.stop()


def test_sniffer_sub_with_keys_against_a_plaintext_sensor_says_so(lab, env, start_daemon, keys, tmp_path):
    daemon = start_daemon(metrics={"listen": ""})
    result = run([env.sniffer_sub, "--connect", daemon.endpoint, "--server-key", tmp_path / "sensor.pub",
                  "--key-file", tmp_path / "alice.key", "--timeout", "5"], check=False, timeout=15)
    assert result.returncode == 1, result.stderr
    assert "the sensor does not use CURVE (its publish.curve is not set)" in result.stderr, result.stderr
    daemon.stop()


def test_sniffer_sub_says_when_nothing_arrived(env, tmp_path):
    """--timeout ends a wait for nothing with exit 1 and what it means."""
    result = run([env.sniffer_sub, "--connect", f"ipc://{tmp_path}/nobody.sock", "--timeout", "1"], check=False)
    assert result.returncode == 1, result.stderr
    assert f"nothing arrived from ipc://{tmp_path}/nobody.sock in 1 s: no connection was made" in result.stderr, \
        result.stderr


def test_plaintext_tcp_endpoint_is_warned_about(lab, env, tmp_path):
    port = random_ports(1)[0]
    config = tmp_path / "sniffer.json"
    config.write_text(json.dumps(lab_config(f"tcp://127.0.0.1:{port}", metrics={"listen": ""})))
    daemon = Daemon(env, lab, tmp_path, json.loads(config.read_text()))
    try:
        daemon.start()
        warnings = [line for line in daemon.stderr().splitlines() if "unauthenticated" in line]
        assert len(warnings) == 1 and f"tcp://127.0.0.1:{port}" in warnings[0], daemon.stderr()
        daemon.stop()
    finally:
        daemon.terminate()
