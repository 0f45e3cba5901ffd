#!/usr/bin/env bash
# demo.sh: sniffer in five minutes on one machine (the README's first command).
#
#   sudo ./scripts/demo.sh
#
# 1. installs the Debian packages (scripts/install-deps.sh) and builds into ./build
# 2. creates the dual-NIC lab in network namespaces (scripts/lab-topology.sh):
#    WAN peer 198.51.100.10 -- wan0 [sensor/gateway] lan0 -- LAN peer 192.0.2.10
# 3. runs the daemon in the sensor namespace with config/lab.json
# 4. sends traffic through both NICs for DEMO_SECONDS (default 8) while build/sniffer-sub
#    prints the decoded events (one line each: interface, hook, role, src -> dst, protocol)
# 5. stops the daemon (SIGTERM), prints its final counters and removes everything.
#
# Environment: DEMO_SECONDS (default 8), SNIFFER_BUILD_DIR (default ./build),
# DEMO_SKIP_INSTALL=1 (do not run install-deps.sh), DEMO_SKIP_BUILD=1 (use the existing build).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO_SECONDS=${DEMO_SECONDS:-8}
# shellcheck source=SCRIPTDIR/lab-env.sh
source "$REPO/scripts/lab-env.sh"  # BUILD_DIR, TOPOLOGY, PYTHON, the lab's addresses, start_sensor

TCP_PORT=8080
UDP_PORT=5353

PREFIX=""
WORK=""
DAEMON_PID=""
SUB_PID=""
FMT_PID=""
SINK_PID=""

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() {
  echo "demo.sh: $*" >&2
  exit 1
}

cleanup() {
  local rc=$? i
  set +e
  [[ -n $SUB_PID ]] && kill "$SUB_PID" 2>/dev/null
  if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID"
    for ((i = 0; i < 100; i++)); do
      kill -0 "$DAEMON_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$DAEMON_PID" 2>/dev/null && kill -KILL "$DAEMON_PID"
  fi
  [[ -n $SINK_PID ]] && kill "$SINK_PID" 2>/dev/null
  [[ -n $FMT_PID ]] && wait "$FMT_PID" 2>/dev/null
  if [[ -n $PREFIX ]]; then
    "$TOPOLOGY" down "$PREFIX" && echo "demo.sh: removed the lab namespaces $PREFIX-{wan,gw,lan}"
  fi
  [[ -n $WORK ]] && rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $EUID -eq 0 ]] || die "needs root (network namespaces, BPF): sudo $0"
[[ $DEMO_SECONDS =~ ^[1-9][0-9]*$ ]] || die "DEMO_SECONDS must be a positive integer, got \"$DEMO_SECONDS\""

if [[ ${DEMO_SKIP_INSTALL:-0} != 1 ]]; then
  say "Installing the Debian packages (scripts/install-deps.sh)"
  "$REPO/scripts/install-deps.sh"
fi

if [[ ${DEMO_SKIP_BUILD:-0} != 1 ]]; then
  say "Building into $BUILD_DIR"
  extra=()
  # A fresh build dir skips the test tiers; an existing one keeps its settings.
  [[ -f $BUILD_DIR/CMakeCache.txt ]] || extra=(-DSNIFFER_BUILD_TESTS=OFF)
  cmake -S "$REPO" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${extra[@]}" >/dev/null
  cmake --build "$BUILD_DIR" -j"$(nproc)"
fi
for binary in sniffer sniffer-sub; do
  [[ -x $BUILD_DIR/$binary ]] || die "$BUILD_DIR/$binary is missing: the build failed?"
done

PREFIX="demo$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
say "Creating the dual-NIC lab: namespaces $PREFIX-wan, $PREFIX-gw (the sensor), $PREFIX-lan"
"$TOPOLOGY" up "$PREFIX"
WAN=$PREFIX-wan
GW=$PREFIX-gw
LAN=$PREFIX-lan
# The same gateway preparation as the Vagrant defender (NICs chosen by network).
ip netns exec "$GW" "$REPO/vagrant/prepare-gateway.sh" --wan-net 198.51.100.0/24 --lan-net 192.0.2.0/24

# A copy of config/lab.json whose endpoint is a socket in our temp dir.
WORK=$(mktemp -d /tmp/sniffer-demo.XXXXXX)
ENDPOINT="ipc://$WORK/lab.sock"
sed "s|ipc:///run/sniffer/lab.sock|$ENDPOINT|" "$REPO/config/lab.json" >"$WORK/lab.json"
grep -q "$ENDPOINT" "$WORK/lab.json" || die "config/lab.json: cannot find its publish.endpoint to override"

say "Starting the sensor in $GW: sniffer --config config/lab.json (endpoint $ENDPOINT)"
start_sensor "$GW" "$BUILD_DIR/sniffer" "$WORK/lab.json" "$WORK" || die "the sensor did not start (log above)"
sed 's/^/    /' "$WORK/sniffer.log"

# Prints the first event in full, then one compact line per event, then a summary.
FORMATTER=$(
  cat <<'EOF'
import collections, json, sys
ICMP = {(1, 0): "echo-reply", (1, 8): "echo-request", (1, 3): "unreachable",
        (58, 128): "echo-request", (58, 129): "echo-reply", (58, 1): "unreachable"}
PROTO = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6"}
FLAGS = "FSRPAUEC"
seen = collections.Counter()
for n, line in enumerate(sys.stdin):
    e = json.loads(line)
    if n == 0:
        print("    first event, as sniffer-sub prints it:")
        print("    " + json.dumps(e, indent=2, sort_keys=True).replace("\n", "\n    "))
        print(f"    {'interface':<24}{'hook':<13}{'proto':<7}{'source':<28}{'destination':<28}detail")
    p = e["l4_protocol"]
    src, dst = e["src_addr"] or "-", e["dst_addr"] or "-"
    if p in (6, 17):
        src, dst = (f"[{a}]:{port}" if ":" in a else f"{a}:{port}"
                    for a, port in ((src, e["src_port"]), (dst, e["dst_port"])))
    detail = f"{e['wire_length']} B"
    if p == 6:
        flags = "".join(f for i, f in enumerate(FLAGS) if e["tcp_flags"] >> i & 1)
        detail += f" [{flags}]"
    elif p in (1, 58):
        detail += " " + ICMP.get((p, e["icmp_type"]), f"type {e['icmp_type']}")
    if e.get("payload_hex") and p in (6, 17):
        text = bytes.fromhex(e["payload_hex"]).decode("latin-1")
        detail += " " + repr("".join(c if " " <= c <= "~" else "." for c in text)[:24])
    iface = f"{e['interface']} ({e['role']}, {e['mode']})"
    print(f"    {iface:<24}{e['hook']:<13}{PROTO.get(p, str(p)):<7}{src:<28}{dst:<28}{detail}", flush=True)
    seen[(e["interface"], e["hook"])] += 1
total = sum(seen.values())
print(f"    {total} events: " + ", ".join(f"{i}/{h} {c}" for (i, h), c in sorted(seen.items())))
EOF
)

say "Subscribing: sniffer-sub --connect $ENDPOINT"
mkfifo "$WORK/events"
"$PYTHON" -u -c "$FORMATTER" <"$WORK/events" &
FMT_PID=$!
"$BUILD_DIR/sniffer-sub" --connect "$ENDPOINT" >"$WORK/events" &
SUB_PID=$!
sleep 1 # ZeroMQ slow joiner: let the subscription reach the sensor

say "Sending traffic through both NICs for ${DEMO_SECONDS}s"
echo "    ping WAN peer -> LAN peer (gateway path), ping WAN peer -> sensor $WAN4_GW (host-based path),"
echo "    TCP and UDP LAN peer -> WAN peer $WAN4_PEER:$TCP_PORT / :$UDP_PORT (no UDP listener: ICMP unreachable)"
ip netns exec "$WAN" nc -lk "$TCP_PORT" >/dev/null 2>&1 &
SINK_PID=$!
sleep 0.2
end=$((SECONDS + DEMO_SECONDS))
round=0
while ((SECONDS < end)); do
  round=$((round + 1))
  ip netns exec "$WAN" ping -n -q -c1 -W1 "$LAN4_PEER" >/dev/null || true
  ip netns exec "$WAN" ping -6 -n -q -c1 -W1 "$LAN6_PEER" >/dev/null || true
  ip netns exec "$WAN" ping -n -q -c1 -W1 "$WAN4_GW" >/dev/null || true
  printf 'GET /demo-%d HTTP/1.0\r\n\r\n' "$round" |
    ip netns exec "$LAN" nc -N -w1 "$WAN4_PEER" "$TCP_PORT" >/dev/null 2>&1 || true
  printf 'demo datagram %d' "$round" | ip netns exec "$LAN" nc -u -w0 "$WAN4_PEER" "$UDP_PORT" >/dev/null 2>&1 || true
  printf 'demo datagram %d' "$round" | ip netns exec "$LAN" nc -u -w0 "$WAN6_PEER" "$UDP_PORT" >/dev/null 2>&1 || true
  sleep 1
done

say "Stopping the sensor (SIGTERM): it detaches, drains and prints its final counters"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || die "the sensor exited with status $?: $(tail -3 "$WORK/sniffer.log")"
DAEMON_PID=""
sleep 0.5 # the last batch reaches the subscriber
kill "$SUB_PID" 2>/dev/null || true
wait "$SUB_PID" 2>/dev/null || true
SUB_PID=""
wait "$FMT_PID" || true
FMT_PID=""
grep -E "stopped|detach" "$WORK/sniffer.log" | sed 's/^/    /'
"$PYTHON" - "$WORK/report.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
k, u = report["kernel"], report["userspace"]
print("    " + json.dumps(report, indent=2, sort_keys=True).replace("\n", "\n    "))
seen = sum(n for hook in k["packets"].values() for n in hook.values())
ok = seen == k["records"] + k["ringbuf_full"] + k["filtered"] and k["records"] == u["records_received"]
print(f"    packets seen {seen} = records {k['records']} + ring-full drops {k['ringbuf_full']}"
      f" + filtered {k['filtered']}: {'holds' if ok else 'DOES NOT HOLD'}")
print(f"    published {u['events_published']} events in {u['batches_published']} batches,"
      f" {u['events_dropped_hwm']} dropped at the high-water mark")
sys.exit(0 if ok and k["records"] > 0 else 1)
EOF

say "Done. Try it yourself:"
cat <<EOF
    sudo scripts/lab-topology.sh up lab
    sudo mkdir -p /run/sniffer && sudo ip netns exec lab-gw build/sniffer --config config/lab.json
    sudo build/sniffer-sub --connect ipc:///run/sniffer/lab.sock       # C++ subscriber
    sudo python3 examples/python_consumer.py --proto-dir build/proto --connect ipc:///run/sniffer/lab.sock
    sudo ip netns exec lab-wan ping 192.0.2.10                          # traffic through the gateway
    sudo scripts/lab-topology.sh down lab
EOF
