#!/usr/bin/env bash
# Memory per binding: RSS of sipd (memory store) before and after N unique AORs register.
#   bench/mem_bindings.sh [N=100000] [RATE=5000]
# Prints "bindings N rss_delta_bytes B bytes_per_binding X". T1 is set to 20 ms so that completed
# transactions (kept 64*T1 for retransmissions) do not pile up and count as binding memory.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
shared=${SHARED_BENCH:-$top/../shared/bench}
SIPD=${SIPD:-$top/build/sipd/sipd}
N=${1:-100000} RATE=${2:-5000}
port=$((26000 + RANDOM % 3000))
work=$(mktemp -d)
"$SIPD" --foreground --api off --log-level warn --listen "udp:127.0.0.1:$port" --set registrar.max_expires=3600 --set sip.t1_ms=20 \
    >"$work/sipd.log" 2>&1 &
pid=$!
# shellcheck source=SCRIPTDIR/procs.sh
. "$here/procs.sh"
trap 'stop_wait "$pid" sipd; rm -rf "$work"' EXIT
sleep 0.5
rss() { awk '/^VmRSS/{print $2*1024}' /proc/$pid/status; }
r0=$(rss)
(cd "$work" && timeout $((N / RATE + 60)) sipp -sf "$shared/scenarios/reg.xml" "127.0.0.1:$port" -i 127.0.0.1 \
    -p $((port + 1)) -m "$N" -r "$RATE" -l $((RATE * 2)) -nostdin -timeout $((N / RATE + 50)) >/dev/null 2>&1)
sleep 3 # T1 = 20 ms: completed transactions (Timer J = 64*T1 = 1.3 s) are gone
r1=$(rss)
echo "bindings $N rss_delta_bytes $((r1 - r0)) bytes_per_binding $(( (r1 - r0) / N ))"
