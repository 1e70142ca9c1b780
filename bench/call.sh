#!/usr/bin/env bash
# Calls (INVITE/180/200/ACK/BYE) and page-mode MESSAGE relayed through the proxy, sipd side by side
# with Kamailio in the same run (../shared/bench).
#
#   bench/call.sh [cpu|limit|all] [udp|tcp|both] [call|message|both]
#
# Servers, alternating: Kamailio with 1 worker (the CPU anchor), Kamailio with KBEST workers
# (default 4: the best limit throughput on this machine), sipd (one process, memory store).
# Prints "cpu SCEN TRANSPORT S" (CPU-seconds per 1000 calls) and "limit SCEN TRANSPORT R"
# (highest rate with >= 99% success) per server, then the sipd/Kamailio ratios.
# Env: SIPD (default build/sipd/sipd), RATE (cpu run rate, 1000), COUNT (10000),
#      RATES (limit steps), SECS (seconds per step, 5), KBEST (4).
# Each server is stopped and waited for (bench/procs.sh stop_wait, at most 30 s) before the next
# one is measured.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
shared=${SHARED_BENCH:-$top/../shared/bench}
SIPD=${SIPD:-$top/build/sipd/sipd}
what=${1:-all}
trs=${2:-both}; [ "$trs" = both ] && trs="udp tcp"
scens=${3:-both}; [ "$scens" = both ] && scens="call message"
RATE=${RATE:-1000} COUNT=${COUNT:-10000} SECS=${SECS:-5} KBEST=${KBEST:-4}
RATES=${RATES:-"1000 2000 3000 4000 5000 6000 7000 8000 10000"}
pids=()
# shellcheck source=SCRIPTDIR/procs.sh
. "$here/procs.sh"
cleanup() { for p in "${pids[@]}"; do stop_wait "$p"; done; wait 2>/dev/null; }
trap cleanup EXIT
[ -x "$SIPD" ] || { echo "build sipd first: $SIPD" >&2; exit 2; }
results=$(mktemp)

start_sipd() {
    "$SIPD" --foreground --api off --log-level warn --listen "udp:127.0.0.1:$1,tcp:127.0.0.1:$1" >"/tmp/sipd-bench-$1.log" 2>&1 &
    echo $!
}
run() { # label pid port scen tr doCpu doLimit
    local label=$1 pid=$2 port=$3 scen=$4 tr=$5
    if [ "$6" = 1 ]; then
        local c; c=$("$shared/run.sh" cpu "$scen" "127.0.0.1:$port" "$pid" "$tr" "$RATE" "$COUNT" | tail -1)
        echo "$label $c" | tee -a "$results"
    fi
    if [ "$7" = 1 ]; then
        local l; l=$("$shared/run.sh" limit "$scen" "127.0.0.1:$port" "$tr" "$RATES" "$SECS" | tail -1)
        echo "$label $l" | tee -a "$results"
    fi
}
docpu=0; dolimit=0
[ "$what" = cpu ] || [ "$what" = all ] && docpu=1
[ "$what" = limit ] || [ "$what" = all ] && dolimit=1
for scen in $scens; do
  for tr in $trs; do
    port=$((22000 + RANDOM % 5000))
    k=$("$shared/kamailio.sh" "$port" 1 | tail -1); pids+=("$k")
    run kamailio-1worker "$k" "$port" "$scen" "$tr" "$docpu" 0
    stop_wait "$k" kamailio-1worker; pids=()
    if [ "$dolimit" = 1 ]; then
        port=$((port + 3))
        k=$("$shared/kamailio.sh" "$port" "$KBEST" | tail -1); pids+=("$k")
        run "kamailio-${KBEST}workers" "$k" "$port" "$scen" "$tr" 0 1
        stop_wait "$k" "kamailio-${KBEST}workers"; pids=()
    fi
    port=$((port + 3))
    s=$(start_sipd "$port"); pids+=("$s"); sleep 0.7
    run sipd "$s" "$port" "$scen" "$tr" "$docpu" "$dolimit"
    stop_wait "$s" sipd; pids=()
  done
done
echo "--- ratios (one run)"
awk -v kb="kamailio-${KBEST}workers" '
  $2=="cpu" { cpu[$1" "$3" "$4]=$5 }
  $2=="limit" { lim[$1" "$3" "$4]=$5 }
  END {
    for (k in cpu) { split(k, a, " "); if (a[1]=="sipd" && cpu["kamailio-1worker " a[2] " " a[3]] > 0)
        printf "cpu %s %s: sipd uses %.2fx the CPU per call of kamailio (1 worker)\n", a[2], a[3], cpu[k] / cpu["kamailio-1worker " a[2] " " a[3]] }
    for (k in lim) { split(k, a, " "); if (a[1]=="sipd" && lim[kb " " a[2] " " a[3]] > 0)
        printf "limit %s %s: sipd (1 process) reaches %.2fx the limit throughput of %s\n", a[2], a[3], lim[k] / lim[kb " " a[2] " " a[3]], kb }
  }' "$results"
rm -f "$results"
