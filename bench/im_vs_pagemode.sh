#!/usr/bin/env bash
# The paper's claim, measured: deliver the same M messages to a user with 3 devices
#   kamailio      page-mode MESSAGE forked by Kamailio (../shared/bench/kamailio.sh PORT 1:
#                 in-memory registrar + stateful proxy; lookup("location") loads every registered
#                 contact as a branch and t_relay() forks to all of them in parallel); the 3
#                 devices REGISTER and answer each MESSAGE 200;
#   sipd-broker   sipd (all roles) as IM broker: the 3 devices SUBSCRIBE (Event: im) and answer
#                 each message NOTIFY 200; the sender's MESSAGE is stored, answered, fanned out;
#   sipd-proxy    sipd --roles registrar,proxy: page-mode MESSAGE forked like Kamailio;
#   sipd-pagemode sipd (all roles) with the 3 devices only REGISTERed: the broker stores the message
#                 and delivers it by page mode (RFC 3428 clients, docs/im-event-package.md §11).
# Everything over TCP: the devices keep one connection each (Contact = its own address), the
# sender has its own connection. Same M, same rate, one run, servers alternating for ROUNDS rounds.
#
#   bench/im_vs_pagemode.sh [M=5000] [RATE=500]
#
# Per run (bench/imload): server CPU-seconds per 1000 deliveries (deliveries = M x 3; utime+stime
# of the server PID and its child processes between the first MESSAGE and the last delivery) and
# delivery latency p50/p99 (sender writes the MESSAGE -> device reads its MESSAGE/NOTIFY).
# Prints every run, the mean per server and the ratios to Kamailio.
# Env: SIPD (default build/sipd/sipd), ROUNDS (2), SERVERS (default: all four, in this order),
#      KCHILDREN (Kamailio workers, 1), TIMEOUT (seconds per run, 120).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
shared=${SHARED_BENCH:-$top/../shared/bench}
SIPD=${SIPD:-$top/build/sipd/sipd}
[ -x "$SIPD" ] || { echo "build sipd first: $SIPD" >&2; exit 2; }
M=${1:-5000} RATE=${2:-500} ROUNDS=${ROUNDS:-2} KCHILDREN=${KCHILDREN:-1} TIMEOUT=${TIMEOUT:-120}
SERVERS=${SERVERS:-"kamailio sipd-broker sipd-proxy sipd-pagemode"}
DEVICES=3

work=$(mktemp -d)
spid=""
# shellcheck source=SCRIPTDIR/procs.sh
. "$here/procs.sh"
cleanup() { [ -n "$spid" ] && stop_wait "$spid"; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
cc -O2 -std=c11 -Wall -o "$work/imload" "$here/imload.c" || exit 2
# shellcheck source=SCRIPTDIR/free_port.sh
. "$here/free_port.sh"

start() { # server port -> sets spid
    case $1 in
    kamailio) spid=$("$shared/kamailio.sh" "$2" "$KCHILDREN" | tail -1) ;;
    sipd-proxy) "$SIPD" --foreground --api off --log-level warn --roles registrar,proxy --domain example.com \
            --listen "udp:127.0.0.1:$2,tcp:127.0.0.1:$2" >"$work/sipd.log" 2>&1 &
        spid=$!; sleep 0.5 ;;
    *) "$SIPD" --foreground --api off --log-level warn --domain example.com \
            --listen "udp:127.0.0.1:$2,tcp:127.0.0.1:$2" >"$work/sipd.log" 2>&1 &
        spid=$!; sleep 0.5 ;;
    esac
    kill -0 "$spid" 2>/dev/null || { echo "$1 did not start" >&2; cat "$work/sipd.log" >&2; exit 2; }
}

date -u +"im_vs_pagemode %Y-%m-%dT%H:%M:%SZ M=$M rate=$RATE/s devices=$DEVICES rounds=$ROUNDS on $(nproc) cores"
for round in $(seq 1 "$ROUNDS"); do
    for srv in $SERVERS; do
        port=$(free_port)
        start "$srv" "$port"
        mode=reg; [ "$srv" = sipd-broker ] && mode=sub
        echo "== round $round $srv (pid $spid, port $port, devices $mode)"
        out=$(timeout $((TIMEOUT + 30)) "$work/imload" -p "$port" -m "$mode" -n "$DEVICES" -u "bob$round" \
            -M "$M" -r "$RATE" -T "$TIMEOUT" -P "$spid" 2>&1)
        printf '%s\n' "$out" | sed 's/^/  /'
        echo "$out" | awk -v s="$srv" '
            /^latency_ms/ { split($2, a, "="); split($3, b, "="); p50=a[2]; p99=b[2] }
            /^deliveries=/ { split($3, a, "="); miss=a[2] }
            /^server_cpu_s/ { split($2, a, "="); cpu=a[2] }
            END { print s, cpu, p50, p99, miss }' >>"$work/results"
        stop_wait "$spid" "$srv"; spid=""  # its teardown must not overlap the next run
    done
done
echo "--- mean over $ROUNDS round(s): server CPU-s per 1000 deliveries, latency ms"
awk '
    { n[$1]++; cpu[$1]+=$2; p50[$1]+=$3; p99[$1]+=$4; miss[$1]+=$5; if (!($1 in seen)) { seen[$1]=1; order[++k]=$1 } }
    END {
        printf "%-14s %10s %9s %9s %8s\n", "server", "cpu/1000", "p50", "p99", "missing"
        for (i=1; i<=k; i++) { s=order[i]
            printf "%-14s %10.4f %9.3f %9.3f %8d\n", s, cpu[s]/n[s], p50[s]/n[s], p99[s]/n[s], miss[s] }
        if (!("kamailio" in n)) exit
        kc=cpu["kamailio"]/n["kamailio"]; k50=p50["kamailio"]/n["kamailio"]; k99=p99["kamailio"]/n["kamailio"]
        print "--- ratios to kamailio (page-mode fork), < 1 = cheaper/faster than kamailio"
        for (i=1; i<=k; i++) { s=order[i]; if (s=="kamailio") continue
            printf "%-14s cpu %.2fx  p50 %.2fx  p99 %.2fx\n", s, (kc ? cpu[s]/n[s]/kc : 0),
                (k50 ? p50[s]/n[s]/k50 : 0), (k99 ? p99[s]/n[s]/k99 : 0) }
        if (("sipd-broker" in n) && ("sipd-proxy" in n))
            printf "sipd-broker / sipd-proxy: cpu %.2fx  p50 %.2fx  p99 %.2fx\n",
                cpu["sipd-broker"]/n["sipd-broker"] / (cpu["sipd-proxy"]/n["sipd-proxy"]),
                p50["sipd-broker"]/n["sipd-broker"] / (p50["sipd-proxy"]/n["sipd-proxy"]),
                p99["sipd-broker"]/n["sipd-broker"] / (p99["sipd-proxy"]/n["sipd-proxy"])
    }' "$work/results"
