#!/usr/bin/env bash
# Memory per binding: RSS of sipd (memory store) before and after N unique AORs register.
#   bench/mem_bindings.sh [N=100000] [RATE=5000]
# Prints "bindings N rss_delta_bytes B bytes_per_binding X".
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
shared=${SHARED_BENCH:-$top/../shared/bench}
SIPD=${SIPD:-$top/build/sipd/sipd}
N=${1:-100000} RATE=${2:-5000}
port=$((26000 + RANDOM % 3000))
work=$(mktemp -d)
"$SIPD" --foreground --log-level warn --listen "udp:127.0.0.1:$port" --set registrar.max_expires=3600 \
    >"$work/sipd.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
sleep 0.5
rss() { awk '/^VmRSS/{print $2*1024}' /proc/$pid/status; }
r0=$(rss)
(cd "$work" && timeout $((N / RATE + 60)) sipp -sf "$shared/scenarios/reg.xml" "127.0.0.1:$port" -i 127.0.0.1 \
    -p $((port + 1)) -m "$N" -r "$RATE" -l $((RATE * 2)) -nostdin -timeout $((N / RATE + 50)) >/dev/null 2>&1)
sleep 2 # let Timer J (32 s at most) matter less: transactions are counted separately below
r1=$(rss)
sleep 33 # every completed UDP transaction gone (Timer J = 64*T1)
r2=$(rss)
echo "bindings $N rss_after_load_bytes $((r1 - r0)) rss_delta_bytes $((r2 - r0)) bytes_per_binding $(( (r2 - r0) / N ))"
