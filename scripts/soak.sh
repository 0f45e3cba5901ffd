#!/usr/bin/env bash
# soak.sh: the daemon under steady mixed traffic for a long run, watched for leaks.
#
#   sudo scripts/soak.sh [SECONDS]        (default 600)
#
# Builds nothing: uses SNIFFER_BUILD_DIR (default ./build). Brings up the namespace lab
# (scripts/lab-topology.sh, vagrant/prepare-gateway.sh in the sensor namespace), runs the
# daemon there with config/lab.json (endpoint, pins and flow timeouts adjusted, see below)
# and a real subscriber (build/sniffer-sub, every event counted), and drives traffic
# through both NICs: TCP connections opened and closed (WAN -> LAN, LAN -> WAN, WAN -> the
# sensor), UDP request/reply from a new source port each time, pings: every connection
# and datagram exchange a new flow, so the flow table keeps filling and emptying.
#
# Every SOAK_INTERVAL seconds (default 10) one line: the daemon's RSS and open fds, and
# from its /metrics: kernel packets, records, drops (ring full, publish HWM, decode),
# batches sent to no subscriber, flows active/created/ended, and the events the
# subscriber received. At the end the daemon is stopped (SIGTERM) and the verdict checks:
#   - RSS growth from the first sample after SOAK_WARMUP seconds (default: a fifth of the
#     run, at least 60 s) to the last is at most SOAK_RSS_GROWTH_KB (default 4096)
#   - the fd count is the same in every sample
#   - no ring-full, HWM or decode drop; the accounting identities of README.md ("Counters
#     and accounting") hold on the final report, and the subscriber received every event
#     published while it was subscribed
# Exit 0 on PASS, 1 on FAIL, 2 when the soak could not run. Everything is removed on exit.
#
# Environment: SNIFFER_BUILD_DIR, SOAK_INTERVAL, SOAK_WARMUP, SOAK_RSS_GROWTH_KB,
# SOAK_RATE (new TCP connections and UDP exchanges per second per driver, default 20),
# SOAK_KEEP_WORK=1 (keep the work directory: config, logs, samples, final report).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${1:-600}
INTERVAL=${SOAK_INTERVAL:-10}
RATE=${SOAK_RATE:-20}
RSS_LIMIT_KB=${SOAK_RSS_GROWTH_KB:-4096}
# shellcheck source=SCRIPTDIR/lab-env.sh
source "$REPO/scripts/lab-env.sh"  # BUILD_DIR, TOPOLOGY, PYTHON, the lab's addresses, start_sensor

TCP_PORT=8080
UDP_PORT=5353
METRICS=127.0.0.1:9750

PREFIX=""
WORK=""
DAEMON_PID=""
SUB_PID=""
COUNTER_PID=""
PIDS=()

die() {
  echo "soak.sh: $*" >&2
  exit 2
}

stop_pid() { # stop_pid PID: SIGTERM, then SIGKILL after 10 s
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? pid
  set +e
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  [[ -n $DAEMON_PID ]] && stop_pid "$DAEMON_PID"
  [[ -n $SUB_PID ]] && stop_pid "$SUB_PID"
  [[ -n $COUNTER_PID ]] && wait "$COUNTER_PID" 2>/dev/null
  if [[ -n $PREFIX ]]; then
    "$TOPOLOGY" down "$PREFIX" || echo "soak.sh: lab-topology.sh down $PREFIX failed" >&2
  fi
  if [[ -n $WORK ]]; then
    if [[ ${SOAK_KEEP_WORK:-0} == 1 ]]; then
      echo "soak.sh: work directory kept: $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $EUID -eq 0 ]] || die "needs root (network namespaces, BPF): sudo $0"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "SECONDS must be a positive integer, got \"$DURATION\""
[[ $INTERVAL =~ ^[1-9][0-9]*$ ]] || die "SOAK_INTERVAL must be a positive integer, got \"$INTERVAL\""
[[ $RATE =~ ^[1-9][0-9]*$ ]] || die "SOAK_RATE must be a positive integer, got \"$RATE\""
[[ $RSS_LIMIT_KB =~ ^[0-9]+$ ]] || die "SOAK_RSS_GROWTH_KB must be a non-negative integer"
WARMUP=${SOAK_WARMUP:-$((DURATION / 5 > 60 ? DURATION / 5 : 60))}
[[ $WARMUP =~ ^[0-9]+$ ]] || die "SOAK_WARMUP must be a non-negative integer, got \"$WARMUP\""
((WARMUP < DURATION)) || WARMUP=0
for binary in sniffer sniffer-sub; do
  [[ -x $BUILD_DIR/$binary ]] || die "$BUILD_DIR/$binary not built (scripts/build.sh, or set SNIFFER_BUILD_DIR)"
done
for tool in ip ping; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found"
done

# The traffic: "serve" answers TCP (a few hundred bytes, then close) and UDP (echo) on
# every address given; "drive" opens RATE TCP connections and RATE UDP exchanges per
# second towards each target, round robin, each from a new ephemeral port, until killed.
TRAFFIC=$(
  cat <<'EOF'
import socket, sys, threading, time

def serve(addrs, tcp_port, udp_port):
    def tcp_loop(listener):
        while True:
            conn, _ = listener.accept()
            conn.settimeout(5)
            try:
                conn.recv(4096)
                conn.sendall(b"soak reply " + b"r" * 300)
            except OSError:
                pass
            finally:
                conn.close()
    def udp_loop(s):
        while True:
            data, peer = s.recvfrom(65535)
            s.sendto(data, peer)
    for addr in addrs:
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        t = socket.socket(family, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((addr, tcp_port))
        t.listen(128)
        u = socket.socket(family, socket.SOCK_DGRAM)
        u.bind((addr, udp_port))
        for target, sock in ((tcp_loop, t), (udp_loop, u)):
            threading.Thread(target=target, args=(sock,), daemon=True).start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)

def drive(targets, tcp_port, udp_port, rate):
    period = 1.0 / rate
    n = 0
    next_at = time.monotonic()
    while True:
        dst = targets[n % len(targets)]
        family = socket.AF_INET6 if ":" in dst else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as c:
                c.settimeout(2)
                c.connect((dst, tcp_port))
                c.sendall(b"soak request %d " % n + b"q" * 100)
                while c.recv(4096):
                    pass
        except OSError:
            pass
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as u:
                u.settimeout(1)
                for i in range(2):
                    u.sendto(b"soak datagram %d/%d" % (n, i), (dst, udp_port))
                    u.recvfrom(65535)
        except OSError:
            pass
        n += 1
        next_at += period
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_at = time.monotonic()  # behind (a loaded machine): do not burst

mode = sys.argv[1]
if mode == "serve":
    serve(sys.argv[4:], int(sys.argv[2]), int(sys.argv[3]))
else:
    drive(sys.argv[5:], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
EOF
)

# Reads sniffer-sub --batches output on stdin: counts events, batches and sequence gaps,
# rewrites the totals to the file $1 every second and at the end of input.
COUNTER=$(
  cat <<'EOF'
import json, sys, time
path = sys.argv[1]
events = batches = missing = 0
last = 0.0
def write():
    with open(path + ".tmp", "w") as f:
        f.write(f"{events} {batches} {missing}\n")
    import os
    os.replace(path + ".tmp", path)
for line in sys.stdin:
    if line.startswith('{"batch":'):
        batches += 1
        missing += json.loads(line)["batch"]["missing_batches_before"]
    else:
        events += 1
    now = time.monotonic()
    if now - last >= 1:
        write()
        last = now
write()
EOF
)

# Prints the figures of one /metrics scrape (run in the sensor's namespace).
SCRAPE=$(
  cat <<'EOF'
import re, sys, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
m = {}
for line in text.splitlines():
    if line and not line.startswith("#"):
        name, value = line.rsplit(" ", 1)
        m[name] = float(value)
def total(prefix, **labels):
    s = 0
    for name, value in m.items():
        if name == prefix or name.startswith(prefix + "{"):
            if all(f'{k}="{v}"' in name for k, v in labels.items()):
                s += value
    return int(s)
print(total("sniffer_packets_total"), total("sniffer_records_total"),
      total("sniffer_dropped_total", reason="ring_full"), total("sniffer_dropped_total", reason="hwm"),
      total("sniffer_dropped_total", stage="decode"), total("sniffer_dropped_total", reason="no_subscriber"),
      total("sniffer_flows_active"), total("sniffer_flows_created_total"), total("sniffer_flows_ended_total"))
EOF
)

PREFIX="soak$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
WAN=$PREFIX-wan
GW=$PREFIX-gw
LAN=$PREFIX-lan
WORK=$(mktemp -d /tmp/sniffer-soak.XXXXXX)
echo "soak.sh: lab $PREFIX-{wan,gw,lan}, ${DURATION}s, a sample every ${INTERVAL}s, work directory $WORK"
"$TOPOLOGY" up "$PREFIX" >"$WORK/topology.log" 2>&1 || { cat "$WORK/topology.log" >&2; die "lab-topology.sh up failed"; }
ip netns exec "$GW" "$REPO/vagrant/prepare-gateway.sh" --wan-net 198.51.100.0/24 --lan-net 192.0.2.0/24 \
  >"$WORK/prepare.log" 2>&1 || { cat "$WORK/prepare.log" >&2; die "prepare-gateway.sh failed"; }

# config/lab.json with our endpoint and pin path, and shorter flow timeouts (5 s idle,
# 20 s active) so that flows end, and long ones export updates, many times in a run.
"$PYTHON" - "$REPO/config/lab.json" "$WORK/lab.json" "ipc://$WORK/lab.sock" "/sys/fs/bpf/sniffer-$PREFIX" <<'EOF' ||
import json, re, sys
text = open(sys.argv[1]).read()
# JSON with // comments (none inside strings except the endpoint's ipc:// and paths).
config = json.loads(re.sub(r'(?m)^((?:[^"\n]|"[^"\n]*")*?)\s*//.*$', r"\1", text))
config["publish"]["endpoint"] = sys.argv[3]
config["pin_path"] = sys.argv[4]
config["flows"].update({"idle_timeout_ms": 5000, "active_timeout_ms": 20000})
config["metrics"] = {"listen": "127.0.0.1:9750", "log_interval_s": 60, "stats_interval_s": 0}
json.dump(config, open(sys.argv[2], "w"), indent=2)
EOF
  die "cannot write the soak config from config/lab.json"

start_sensor "$GW" "$BUILD_DIR/sniffer" "$WORK/lab.json" "$WORK" || die "the sensor did not start (log above)"

# The subscriber, counting every event (stdout through a pipe into the counter).
mkfifo "$WORK/sub.fifo"
"$PYTHON" -c "$COUNTER" "$WORK/received" <"$WORK/sub.fifo" &
COUNTER_PID=$!
"$BUILD_DIR/sniffer-sub" --connect "ipc://$WORK/lab.sock" --batches >"$WORK/sub.fifo" 2>"$WORK/sub.err" &
SUB_PID=$!

# Servers on both peers and on the sensor's WAN address, then the drivers.
start_server() { # start_server NS ADDR...
  local ns=$1
  shift
  ip netns exec "$ns" "$PYTHON" -c "$TRAFFIC" serve "$TCP_PORT" "$UDP_PORT" "$@" >"$WORK/serve-$ns.out" 2>&1 &
  PIDS+=($!)
  for ((i = 0; i < 100; i++)); do
    grep -q ready "$WORK/serve-$ns.out" && return 0
    sleep 0.1
  done
  cat "$WORK/serve-$ns.out" >&2
  die "the traffic server in $ns did not start"
}
start_server "$LAN" "$LAN4_PEER" "$LAN6_PEER"
start_server "$WAN" "$WAN4_PEER" "$WAN6_PEER"
start_server "$GW" "$WAN4_GW"

# ZeroMQ's slow joiner: wait until the subscriber receives the warm-up pings' events.
for ((i = 0; i < 50; i++)); do
  ip netns exec "$WAN" ping -n -q -c1 -W1 "$LAN4_PEER" >/dev/null 2>&1 || true
  [[ -s $WORK/received ]] && break
  sleep 0.2
done
[[ -s $WORK/received ]] || die "the subscriber received nothing within 10 s: $(cat "$WORK/sub.err")"

ip netns exec "$WAN" "$PYTHON" -c "$TRAFFIC" drive "$TCP_PORT" "$UDP_PORT" "$RATE" \
  "$LAN4_PEER" "$LAN6_PEER" "$WAN4_GW" >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$LAN" "$PYTHON" -c "$TRAFFIC" drive "$TCP_PORT" "$UDP_PORT" "$RATE" \
  "$WAN4_PEER" "$WAN6_PEER" >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$WAN" ping -n -q -i 0.2 "$LAN4_PEER" >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$LAN" ping -6 -n -q -i 0.5 "$WAN6_PEER" >/dev/null 2>&1 &
PIDS+=($!)

SAMPLES=$WORK/samples.tsv
printf '%6s %9s %4s %10s %10s %9s %5s %6s %7s %7s %9s %9s %10s\n' time rss_kb fds packets records ring_full hwm \
  decode unsubs flows created ended received | tee "$WORK/table.txt"
start=$SECONDS
next=$start
while :; do
  next=$((next + INTERVAL))
  ((next - start <= DURATION)) || break
  sleep "$((next - SECONDS > 0 ? next - SECONDS : 0))"
  kill -0 "$DAEMON_PID" 2>/dev/null || {
    tail -5 "$WORK/sniffer.log" >&2
    die "the daemon exited during the soak"
  }
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status")
  fds=$(find "/proc/$DAEMON_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
  if ! figures=$(ip netns exec "$GW" "$PYTHON" -c "$SCRAPE" "http://$METRICS/metrics" 2>"$WORK/scrape.err"); then
    die "cannot scrape http://$METRICS/metrics: $(cat "$WORK/scrape.err")"
  fi
  read -r packets records ring_full hwm decode unsubs flows created ended <<<"$figures"
  read -r received _ _ <"$WORK/received"
  printf '%6d %9d %4d %10d %10d %9d %5d %6d %7d %7d %9d %9d %10d\n' "$((SECONDS - start))" "$rss" "$fds" \
    "$packets" "$records" "$ring_full" "$hwm" "$decode" "$unsubs" "$flows" "$created" "$ended" "$received" |
    tee -a "$WORK/table.txt"
  printf '%d\t%d\t%d\t%d\t%d\t%d\t%d\n' "$((SECONDS - start))" "$rss" "$fds" "$ring_full" "$hwm" "$decode" \
    "$records" >>"$SAMPLES"
done

# Stop the traffic, let the last packets and flows drain, then the daemon (final report).
for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
PIDS=()
sleep 1
kill -TERM "$DAEMON_PID"
status=0
wait "$DAEMON_PID" || status=$?
DAEMON_PID=""
[[ $status -eq 0 ]] || die "the daemon exited with status $status: $(tail -3 "$WORK/sniffer.log")"
sleep 1 # the last batch reaches the subscriber
stop_pid "$SUB_PID"
SUB_PID=""
wait "$COUNTER_PID" || true
COUNTER_PID=""

"$PYTHON" - "$SAMPLES" "$WORK/report.json" "$WORK/received" "$WARMUP" "$RSS_LIMIT_KB" <<'EOF'
import json, sys
samples_path, report_path, received_path, warmup, rss_limit = sys.argv[1:6]
warmup, rss_limit = int(warmup), int(rss_limit)
rows = [list(map(int, line.split("\t"))) for line in open(samples_path) if line.strip()]
report = json.load(open(report_path))
events, batches, missing = map(int, open(received_path).read().split())
k, u = report["kernel"], report["userspace"]
f = u["flows"]
checks = []
def check(ok, text):
    checks.append(ok)
    print(f"  {'ok  ' if ok else 'FAIL'} {text}")

print("verdict:")
base = next((r for r in rows if r[0] >= warmup), rows[0])
last = rows[-1]
growth = last[1] - base[1]
span = max(last[0] - base[0], 1)
check(growth <= rss_limit,
      f"RSS {base[1]} kB at {base[0]} s -> {last[1]} kB at {last[0]} s: {growth:+d} kB "
      f"({growth * 3600 / span:+.0f} kB/h; limit {rss_limit} kB)")
fds = sorted({r[2] for r in rows})
check(len(fds) == 1, f"open fds in every sample: {', '.join(map(str, fds))}")
check(last[3] == 0 and last[4] == 0 and last[5] == 0,
      f"drops during the run: ring full {last[3]}, publish HWM {last[4]}, decode {last[5]}")
packets = sum(n for hook in k["packets"].values() for n in hook.values())
check(packets == k["records"] + k["ringbuf_full"] + k["filtered"],
      f"packets {packets} = records {k['records']} + ring full {k['ringbuf_full']} + filtered {k['filtered']}")
decode = sum(u["decode_errors"].values())
check(k["records"] == u["records_received"] == u["events_published"] + u["events_dropped_hwm"] + decode,
      f"records {k['records']} = received {u['records_received']} = published {u['events_published']}"
      f" + HWM {u['events_dropped_hwm']} + decode errors {decode}")
check(events == u["events_published"] - u["events_unsubscribed"] and missing == u["batches_dropped_hwm"],
      f"subscriber: {events} events = published {u['events_published']} - before it joined "
      f"{u['events_unsubscribed']}; {missing} missing batches = HWM-dropped {u['batches_dropped_hwm']}")
fp = f["publish"]
check(f["created"] == f["ended"] and f["active"] == 0
      and f["ended"] + f["updates"] == fp["published"] + fp["dropped_hwm"],
      f"flows: created {f['created']} = ended {f['ended']} (evicted {f['evicted']}, updates {f['updates']});"
      f" ended + updates = published {fp['published']} + HWM {fp['dropped_hwm']}"
      f" (no flow subscriber: {fp['unsubscribed']} sent to nobody)")
check(k["unconfigured"] == 0 and u["unknown_ifindex"] == 0,
      f"unconfigured {k['unconfigured']}, unknown ifindex {u['unknown_ifindex']}")
ok = all(checks)
print(f"RESULT soak: {'PASS' if ok else 'FAIL'}: {sum(checks)} of {len(checks)} checks hold")
sys.exit(0 if ok else 1)
EOF
