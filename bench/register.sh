#!/usr/bin/env bash
# REGISTER benchmarks, sipd side by side with Kamailio in the same run (../shared/bench).
#
#   bench/register.sh [cpu|limit|all] [udp|tcp|both]
#
# For each transport it runs, alternating servers: Kamailio with 1 worker, sipd (memory store),
# sipd (PostgreSQL store, in a throwaway pg_virtualenv cluster). Prints, per server:
#   cpu reg TRANSPORT S      CPU-seconds per 1000 REGISTERs (server process + children; for
#                            sipd on PostgreSQL sipd + the postmaster and its backends, followed
#                            by the two shares: "sipd X postgres Y")
#   limit reg TRANSPORT R    highest rate with >= 99% success
# and the ratio sipd/Kamailio. Quote ratios from one run: the machine is shared and noisy.
# Each server is stopped and waited for (bench/procs.sh stop_wait, at most 30 s) before the next
# one is measured.
# Env: SIPD (binary, default build/sipd/sipd), RATE (cpu run rate, 2000), COUNT (20000),
#      RATES (limit steps), SECS (seconds per limit step, 5).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
shared=${SHARED_BENCH:-$top/../shared/bench}
SIPD=${SIPD:-$top/build/sipd/sipd}
what=${1:-all}
trs=${2:-both}; [ "$trs" = both ] && trs="udp tcp"
RATE=${RATE:-2000} COUNT=${COUNT:-20000} SECS=${SECS:-5}
RATES=${RATES:-"2000 4000 8000 12000 16000 20000 25000 30000 40000"}
pids=()
# shellcheck source=SCRIPTDIR/procs.sh
. "$here/procs.sh"
cleanup() { for p in "${pids[@]}"; do stop_wait "$p"; done; wait 2>/dev/null; }
trap cleanup EXIT

[ -x "$SIPD" ] || { echo "build sipd first (tests/run.sh or make): $SIPD" >&2; exit 2; }
[ -x "$shared/run.sh" ] || { echo "missing $shared/run.sh" >&2; exit 2; }

start_kamailio() { "$shared/kamailio.sh" "$1" 1 | tail -1; }
start_sipd() { # port [db]
    local port=$1 db=${2:-}
    local args=(--foreground --api off --log-level warn --listen "udp:127.0.0.1:$port,tcp:127.0.0.1:$port")
    [ -n "$db" ] && args+=(--db "$db")
    "$SIPD" "${args[@]}" >"/tmp/sipd-bench-$port.log" 2>&1 &
    echo $!
    sleep 0.7
}

run_one() { # label pid port transport [postmaster-pid]
    local label=$1 pid=$2 port=$3 tr=$4 pm=${5:-}
    if [ "$what" = cpu ] || [ "$what" = all ]; then
        local c s0 s1 d0 d1 split=""
        if [ -n "$pm" ]; then
            # the harness sums sipd and the postmaster with their children (the backends); the
            # shares are measured here around the same run (bench/procs.sh tree_cpu)
            s0=$(tree_cpu "$pid") d0=$(tree_cpu "$pm")
            c=$("$shared/run.sh" cpu reg "127.0.0.1:$port" "$pid,$pm" "$tr" "$RATE" "$COUNT" | tail -1)
            s1=$(tree_cpu "$pid") d1=$(tree_cpu "$pm")
            split=$(echo "$s0 $s1 $d0 $d1 $COUNT" | \
                awk '{printf " sipd %.4f postgres %.4f", ($2-$1)*1000/$5, ($4-$3)*1000/$5}')
        else
            c=$("$shared/run.sh" cpu reg "127.0.0.1:$port" "$pid" "$tr" "$RATE" "$COUNT" | tail -1)
        fi
        echo "$label $c$split"
        echo "$label $c$split" >>"$results"
    fi
    if [ "$what" = limit ] || [ "$what" = all ]; then
        local l; l=$("$shared/run.sh" limit reg "127.0.0.1:$port" "$tr" "$RATES" "$SECS" | tail -1)
        echo "$label $l"
        echo "$label $l" >>"$results"
    fi
}

results=$(mktemp)
db_part() { # runs inside pg_virtualenv: the postgres-backed sipd
    local tr=$1 port=$2
    "$SIPD" --init-db --db postgresql:// >/dev/null || exit 1
    local pm; pm=$(pg_postmaster_pid)
    [ -n "$pm" ] || echo "bench: PostgreSQL postmaster PID not found: the database's CPU is not counted" >&2
    local p; p=$(start_sipd "$port" postgresql://); pids+=("$p")
    run_one "sipd-postgres" "$p" "$port" "$tr" "$pm"
    stop_wait "$p" sipd-postgres; pids=()
}

for tr in $trs; do
    port=$((21000 + RANDOM % 5000))
    k=$(start_kamailio "$port"); pids+=("$k")
    run_one "kamailio-1worker" "$k" "$port" "$tr"
    stop_wait "$k" kamailio; pids=()
    port=$((port + 7))
    s=$(start_sipd "$port"); pids+=("$s")
    run_one "sipd-memory" "$s" "$port" "$tr"
    stop_wait "$s" sipd-memory; pids=()
    if [ -z "${NO_PG:-}" ]; then
        port=$((port + 7))
        export SIPD RATE COUNT SECS RATES what results shared here
        export -f db_part start_sipd run_one cleanup
        # shellcheck disable=SC2016 # expanded by the inner shell
        pg_virtualenv -t bash -c '. "$here/procs.sh"; pids=(); trap cleanup EXIT; db_part "$1" "$2"' \
            db_part "$tr" "$port"
    fi
done
echo "--- ratios (sipd / kamailio-1worker)"
awk '
  $2=="cpu" { cpu[$1" "$4]=$5; if ($6=="sipd") { own[$1" "$4]=$7; db[$1" "$4]=$9 } }
  $2=="limit" { lim[$1" "$4]=$5 }
  END {
    for (k in cpu) { split(k, a, " "); if (a[1] != "kamailio-1worker" && cpu["kamailio-1worker " a[2]] > 0)
        printf "cpu %s %s: %.2fx kamailio CPU per REGISTER%s\n", a[1], a[2], cpu[k] / cpu["kamailio-1worker " a[2]],
            (k in own) ? sprintf(" (sipd %.2fx + postgres %.2fx)", own[k] / cpu["kamailio-1worker " a[2]],
                                 db[k] / cpu["kamailio-1worker " a[2]]) : "" }
    for (k in lim) { split(k, a, " "); if (a[1] != "kamailio-1worker" && lim["kamailio-1worker " a[2]] > 0)
        printf "limit %s %s: %.2fx kamailio limit throughput\n", a[1], a[2], lim[k] / lim["kamailio-1worker " a[2]] }
  }' "$results"
rm -f "$results"
