#!/usr/bin/env bash
# Memory per IM subscription and per TCP connection: VmRSS of sipd (memory store).
#
#   bench/mem_subscriptions.sh [N=100000] [CONNS=100]
#
# Run 1: N devices with distinct AORs (so N topics too) and distinct +sip.instance subscribe
# (Event: im, Expires 3600) over CONNS TCP connections (N/CONNS subscriptions per connection),
# with bench/imload -m mem. VmRSS is read before connecting, after the CONNS connections are open
# (each has exchanged a CRLF keep-alive) and 7 s after the last initial NOTIFY was answered.
# sipd keeps a completed non-INVITE transaction over TCP for T4 (5 s); at ~20000 SUBSCRIBEs/s tens
# of thousands of them are alive at the peak, and that freed heap stays in RSS. As mem_bindings.sh
# does with T1, T4 is set to 20 ms (SIPD_EXTRA="--set sip.t4_ms=5000" shows the default). Prints bytes per subscription = (after - connected)/N;
# this includes the topic each subscription creates and the growth of the hash tables.
# Run 2 (fresh sipd): ONE (default 10000) subscriptions, all to one topic (devices of one user,
# distinct instances): the cost of a subscription without the topic it would create. (Until the
# broker indexed subscriptions by topic and device, setting up n subscriptions of one topic cost
# O(n^2): 100000 took 276 s; now ONE=100000 takes about 4 s.)
# Run 3 (fresh sipd): PROBE connections (default 2000) each carrying one subscription, for the
# cost of a connection on its own: (connected - before)/PROBE.
# Env: SIPD (default build/sipd/sipd), SIPD_EXTRA (more sipd options), ONE (10000), PROBE (2000), TIMEOUT (seconds per run, 300).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
SIPD=${SIPD:-$top/build/sipd/sipd}
[ -x "$SIPD" ] || { echo "build sipd first: $SIPD" >&2; exit 2; }
N=${1:-100000} CONNS=${2:-100} PROBE=${PROBE:-2000} ONE=${ONE:-10000} TIMEOUT=${TIMEOUT:-300}
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
spid=""
# shellcheck source=SCRIPTDIR/procs.sh
. "$here/procs.sh"
cleanup() { [ -n "$spid" ] && stop_wait "$spid" sipd; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
cc -O2 -std=c11 -Wall -o "$work/imload" "$here/imload.c" || exit 2

# shellcheck source=SCRIPTDIR/free_port.sh
. "$here/free_port.sh"
# shellcheck disable=SC2086 # SIPD_EXTRA is a list of options; ${3:-} an option or nothing
run() { # devices connections [-1]
    local port; port=$(free_port)
    "$SIPD" --foreground --api off --log-level warn --listen "udp:127.0.0.1:$port,tcp:127.0.0.1:$port" \
        --domain example.com --set broker.im_max_expires=86400 --set transport.max_connections=16384 --set sip.t4_ms=20 ${SIPD_EXTRA:-} \
        >"$work/sipd.log" 2>&1 &
    spid=$!
    sleep 0.5
    echo "== $1 subscriptions over $2 TCP connections${3:+, one topic} (sipd pid $spid, port $port)"
    timeout $((TIMEOUT + 30)) "$work/imload" -p "$port" -m mem -n "$1" -c "$2" -u "mem$RANDOM" -e 3600 ${3:-} \
        -T "$TIMEOUT" -P "$spid" 2>&1 | sed 's/^/  /'
    stop_wait "$spid" sipd; spid=""  # its teardown must not overlap the next run
    [ -s "$work/sipd.log" ] && { echo "  --- sipd log:"; tail -5 "$work/sipd.log"; }
}
date -u +"mem_subscriptions %Y-%m-%dT%H:%M:%SZ sipd $SIPD"
run "$N" "$CONNS"
run "$ONE" "$(( CONNS < ONE ? CONNS : ONE ))" -1
run "$PROBE" "$PROBE"
