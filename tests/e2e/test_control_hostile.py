"""An authorized but hostile (or broken) control client cannot end the sensor or flood its log.

A REQ client sends a two-frame request: the REP socket must read every frame before it may
reply (libzmq refuses the send otherwise), and the daemon once died of that with "Operation
cannot be accomplished in current state". A DEALER client then sends hundreds of malformed
requests without waiting for replies, and as many well-formed ones past the rate limit: the
log gets a line a minute per client and kind, not one per request. Through it all a
well-behaved `sniffer block list` still gets its answer.
"""
import time

from e2e_support import run
from test_blocklist import keygen

FLOOD = 400


def z85_key(path):
    """The key line of a `sniffer keygen` file (comments start with '#')."""
    return next(line.strip() for line in open(path) if line.strip() and not line.startswith("#")).encode()


def curve_socket(env, kind, endpoint, sensor_pub, client_key):
    ctx = env.zmq.Context()
    sock = ctx.socket(kind)
    sock.curve_serverkey = z85_key(sensor_pub)
    secret = z85_key(client_key)
    sock.curve_secretkey = secret
    sock.curve_publickey = env.zmq.curve_public(secret)
    sock.setsockopt(env.zmq.LINGER, 0)
    sock.setsockopt(env.zmq.RCVTIMEO, 3000)
    sock.connect(endpoint)
    return ctx, sock


def test_multi_frame_and_flooded_requests_leave_the_sensor_running(env, start_daemon, tmp_path):
    sensor_pub, sensor_key = keygen(env, tmp_path / "sensor")
    client_pub, client_key = keygen(env, tmp_path / "client")
    authorized = tmp_path / "clients"
    authorized.write_text(open(client_pub).read())
    endpoint = f"ipc://{tmp_path}/control.sock"
    daemon = start_daemon(control={"endpoint": endpoint, "rate_limit_per_s": 1, "rate_burst": 2,
                                   "curve": {"secret_key_file": sensor_key,
                                             "authorized_keys_file": str(authorized)}})

    def block_list():
        return run([env.sniffer, "block", "--endpoint", endpoint, "--server-key", sensor_pub, "--key-file",
                    client_key, "--name", "e2e", "--timeout-ms", "3000", "list"], check=False)

    ctx, req = curve_socket(env, env.zmq.REQ, endpoint, sensor_pub, client_key)
    req.send_multipart([b"a", b"b"])
    reply = env.pb2.ControlReply()
    reply.ParseFromString(req.recv())
    assert reply.status == env.pb2.ControlReply.INVALID, reply
    assert "2 frames, not one" in reply.error, reply
    req.close()
    ctx.term()
    assert daemon.running(), f"a two-frame request ended the sensor:\n{daemon.stderr()}"

    ctx, dealer = curve_socket(env, env.zmq.DEALER, endpoint, sensor_pub, client_key)
    for _ in range(FLOOD):
        dealer.send_multipart([b"", b"\xff garbage"])
    listing = env.pb2.ControlRequest()
    listing.list.SetInParent()
    for _ in range(FLOOD):
        dealer.send_multipart([b"", listing.SerializeToString()])
    answered = 0
    deadline = time.monotonic() + 10
    while answered < 2 * FLOOD and time.monotonic() < deadline:
        try:
            dealer.recv_multipart()
            answered += 1
        except env.zmq.Again:
            break
    dealer.close()
    ctx.term()
    assert answered == 2 * FLOOD, f"{answered} of {2 * FLOOD} requests answered"
    assert daemon.running(), f"a flood of requests ended the sensor:\n{daemon.stderr()}"
    time.sleep(2.5)  # the rate limit's tokens come back (1 a second, bursts of 2)
    assert block_list().returncode == 0, "the control socket stopped answering"

    log = daemon.stderr()
    malformed = log.count("control: a malformed request")
    limited = log.count("rate-limited")
    # One line a minute per client and kind: the two-frame request's, none for the flood's
    # garbage within that minute, one for the requests past the rate limit.
    assert malformed == 1, f"{malformed} malformed-request lines for {FLOOD + 1} requests"
    assert limited == 1, f"{limited} rate-limited lines for the requests past the limit"
    daemon.stop()
