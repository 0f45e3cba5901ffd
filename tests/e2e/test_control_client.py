"""The control client (`sniffer block`) against a server that is not the sensor: anything holding
the control endpoint and the sensor's key (a squatter of the port the sensor waits for, red team,
round 17) could answer OK with an empty reply, and the detector took a block as applied that
nothing applied. An OK that does not carry the rule asked for is an error now."""
import threading

from e2e_support import run
from test_blocklist import keygen
from test_control_hostile import z85_key


def empty_replies(env, endpoint, sensor_key, count):
    """A CURVE REP server with the sensor's key that answers `count` requests with b"" (an empty
    ControlReply: status OK, nothing else)."""
    ctx = env.zmq.Context()
    sock = ctx.socket(env.zmq.REP)
    sock.curve_server = True
    secret = z85_key(sensor_key)
    sock.curve_secretkey = secret
    sock.curve_publickey = env.zmq.curve_public(secret)
    sock.setsockopt(env.zmq.LINGER, 0)
    sock.bind(endpoint)

    def serve():
        for _ in range(count):
            sock.recv()
            sock.send(b"")
        sock.close()
        ctx.term()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_an_ok_reply_without_the_rule_asked_for_is_an_error(env, tmp_path):
    sensor_pub, sensor_key = keygen(env, tmp_path / "sensor")
    _, client_key = keygen(env, tmp_path / "detector")
    endpoint = f"ipc://{tmp_path}/control.sock"
    server = empty_replies(env, endpoint, sensor_key, 3)

    def block(*args):
        return run([env.sniffer, "block", "--endpoint", endpoint, "--server-key", sensor_pub, "--key-file", client_key,
                    "--name", "det", "--timeout-ms", "3000", *args], check=False)

    for args in (["add", "203.0.113.5", "--reason", "attacker"], ["del", "203.0.113.5"]):
        result = block(*args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert "says OK but does not carry what was asked" in result.stderr, result.stderr
    # A list has nothing it must carry: an empty one is an empty list.
    assert block("list").returncode == 0
    server.join(timeout=5)
