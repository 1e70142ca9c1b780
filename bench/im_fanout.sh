#!/usr/bin/env bash
# IM fan-out through the broker: publish -> NOTIFY latency, delivered NOTIFYs per second and sipd
# CPU-seconds per 1000 delivered NOTIFYs, with 1, 10 and 1000 subscribed devices over TCP.
#
#   bench/im_fanout.sh [DEVICES...]          (default: 1 10 1000)
#
# Per device count, a fresh sipd (memory store) and bench/imload (built here with cc -O2):
# DEVICES devices of one user subscribe to its topic (Event: im), one TCP connection per device
# (CONNS=k spreads them over k connections instead); a publisher on its own TCP connection sends
# MESSAGEs to the user, and every device answers each NOTIFY 200.
#   paced:  M messages at RATE messages/s (defaults below), i.e. RATE*DEVICES NOTIFYs/s offered;
#   max:    closed loop, at most WINDOW messages not yet delivered to every device (the capacity of
#           sipd plus the client, both on this machine).
# Latency = from writing the MESSAGE to reading the device's NOTIFY; CPU = utime+stime of sipd
# (/proc/PID/stat) between the first MESSAGE and the last NOTIFY.
# Env: SIPD (default build/sipd/sipd), CONNS, WINDOW (8), TIMEOUT (seconds per run, 120),
#      PACED_1 / PACED_10 / PACED_1000 = "RATE M" (1000 5000 / 500 5000 / 10 200),
#      MAX_1 / MAX_10 / MAX_1000 = M for the closed loop (20000 / 5000 / 300).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
SIPD=${SIPD:-$top/build/sipd/sipd}
[ -x "$SIPD" ] || { echo "build sipd first: $SIPD" >&2; exit 2; }
counts=${*:-"1 10 1000"}
WINDOW=${WINDOW:-8} TIMEOUT=${TIMEOUT:-120} CONNS=${CONNS:-0}
PACED_1=${PACED_1:-"1000 5000"} PACED_10=${PACED_10:-"500 5000"} PACED_1000=${PACED_1000:-"10 200"}
MAX_1=${MAX_1:-20000} MAX_10=${MAX_10:-5000} MAX_1000=${MAX_1000:-300}
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# shellcheck source=SCRIPTDIR/procs.sh
. "$here/procs.sh"

work=$(mktemp -d)
spid=""
cleanup() { [ -n "$spid" ] && stop_wait "$spid" sipd; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
cc -O2 -std=c11 -Wall -o "$work/imload" "$here/imload.c" || exit 2

start_sipd() { # port
    "$SIPD" --foreground --api off --log-level warn --listen "udp:127.0.0.1:$1,tcp:127.0.0.1:$1" \
        --domain example.com --set transport.max_connections=8192 >"$work/sipd-$1.log" 2>&1 &
    spid=$!
    sleep 0.5
    kill -0 "$spid" 2>/dev/null || { echo "sipd did not start:" >&2; cat "$work/sipd-$1.log" >&2; exit 2; }
}
stop_sipd() { # waits for the exit (at most 30 s): the teardown must not overlap the next run
    stop_wait "$spid" sipd
    [ -s "$work/sipd-$1.log" ] && { echo "--- sipd log (port $1):"; tail -5 "$work/sipd-$1.log"; }
    spid=""
}
# one imload run; prints its output and a summary line "LABEL p50 p99 deliveries/s cpu/1000 missing"
run() { # label port devices user rate count
    local out
    out=$(timeout $((TIMEOUT + 30)) "$work/imload" -p "$2" -m sub -n "$3" -c "$CONNS" -u "$4" -r "$5" \
        -w "$WINDOW" -M "$6" -T "$TIMEOUT" -P "$spid" 2>&1)
    printf '%s\n' "$out" | sed 's/^/  /'
    echo "$out" | awk -v l="$1" '
        /^latency_ms/ { split($2, a, "="); split($3, b, "="); p50=a[2]; p99=b[2] }
        /^publish_per_s/ { split($2, a, "="); dps=a[2] }
        /^deliveries=/ { split($3, a, "="); miss=a[2] }
        /^server_cpu_s/ { split($2, a, "="); cpu=a[2]; split($3, b, "="); busy=b[2] }
        END { printf "%-34s %9s %9s %10s %10s %6s %8s\n", l, p50, p99, dps, cpu, busy, miss }' >>"$work/summary"
}

date -u +"im_fanout %Y-%m-%dT%H:%M:%SZ on $(nproc) cores, sipd $SIPD"
# shellcheck source=SCRIPTDIR/free_port.sh
. "$here/free_port.sh"
for n in $counts; do
    port=$(free_port)
    pv=PACED_$n mv=MAX_$n
    paced=${!pv:-"100 1000"} maxm=${!mv:-1000}
    read -r rate m <<<"$paced"
    start_sipd "$port"
    echo "== $n device(s), sipd pid $spid port $port"
    echo "- paced: $m messages at $rate/s"
    run "devices=$n paced $rate msg/s" "$port" "$n" "pacedu$n" "$rate" "$m"
    echo "- max: $maxm messages, closed loop, window $WINDOW"
    run "devices=$n max (window $WINDOW)" "$port" "$n" "maxu$n" 0 "$maxm"
    stop_sipd "$port"
done
echo "--- summary (latency ms; NOTIFYs/s delivered; sipd CPU-s per 1000 NOTIFYs; sipd cores busy)"
printf "%-34s %9s %9s %10s %10s %6s %8s\n" run p50 p99 notify/s cpu/1000 busy missing
cat "$work/summary"
