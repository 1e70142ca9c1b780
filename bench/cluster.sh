#!/usr/bin/env bash
# The cluster (docs/cluster.md, issue 9): sipd's balancer in front of sipd proxy nodes, with
# Kamailio as a dispatcher balancer (1 worker) in front of the same nodes as the anchor. Calls
# (INVITE/180/200/ACK/BYE, ../shared/bench scenario `call`) to a SIPp UAS at a host target
# (sip:svc@127.0.0.1:UAS_PORT, not in --domain example.com: a proxy node forwards it without the
# location service), so every call goes UAC -> balancer -> proxy node -> UAS and back.
#
#   bench/cluster.sh [cpu|limit|all]
#
#   limit  the paper's Figure 10: limit throughput (>= 99% success, ../shared/bench/run.sh limit)
#          of (a) one proxy node alone (clients talk to it directly), (b) balancer + 1 proxy node,
#          (c) balancer + 2 proxy nodes.
#   cpu    at a fixed rate (RATE/s x COUNT) through balancer + 2 proxy nodes: CPU-seconds per
#          1000 calls of the sipd balancer, of the proxy nodes (both nodes' CPU over all calls: the
#          cost of a call on the node that carried it) and of Kamailio's dispatcher (1 worker) in
#          front of the same two nodes; ROUNDS rounds, the two balancers alternating. Prints the
#          ratios balancer/proxy node (target <= 0.5, aim 0.33) and balancer/Kamailio dispatcher
#          (target <= 1), and "one balancer feeds about N proxy nodes" (node CPU per call /
#          balancer CPU per call).
#
# Everything runs on 127.0.0.1 with one throwaway PostgreSQL: the script re-runs itself inside
# `pg_virtualenv`. Every node is started as docs/cluster.md tells an operator:
#   sipd --foreground --db postgresql:// --name NAME --roles proxy|balancer
#        --listen udp:127.0.0.1:PORT,tcp:127.0.0.1:PORT --domain example.com --log-level warn
# The node alone of (a) is that same proxy node (on the database; SOLO_STORE=memory runs it on the
# memory store instead, without --db and --name). The machine's cores are shared by every process
# (SIPp UAC and UAS, balancer, nodes, PostgreSQL): the limits are limits of the machine as much as
# of the servers, and the script says so.
# Env: SIPD (default build/sipd/sipd), TR (udp|tcp, the clients' transport; default udp),
#      RATE (cpu run rate, 1000), COUNT (calls per cpu run, 10000), ROUNDS (cpu rounds, 2),
#      RATES (limit steps), SECS (seconds per limit step, 5), SOLO_STORE (db|memory, db),
#      SIPD_EXTRA (more sipd arguments for every node), KEEP_LOGS (1 keeps the node logs).
# Each server is stopped and waited for (bench/procs.sh stop_wait, at most 30 s) before the next
# configuration is measured; the exit trap stops whatever is left, by PID.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
shared=${SHARED_BENCH:-$top/../shared/bench}
SIPD=${SIPD:-$top/build/sipd/sipd}
what=${1:-all}
case $what in cpu | limit | all) ;; *) echo "usage: $0 [cpu|limit|all]" >&2; exit 2 ;; esac
[ -x "$SIPD" ] || { echo "build sipd first (tests/run.sh or make): $SIPD" >&2; exit 2; }
[ -x "$shared/run.sh" ] || { echo "missing $shared/run.sh" >&2; exit 2; }

# one throwaway PostgreSQL around the whole run
if [ -z "${SIPD_CLUSTER_BENCH_IN_PG:-}" ]; then
    command -v pg_virtualenv >/dev/null || { echo "needs pg_virtualenv (postgresql-common)" >&2; exit 2; }
    export SIPD_CLUSTER_BENCH_IN_PG=1 SIPD SHARED_BENCH=$shared
    exec pg_virtualenv -t "$0" "$@"  # -t: its own temporary directories (runs side by side)
fi

TR=${TR:-udp} RATE=${RATE:-1000} COUNT=${COUNT:-10000} ROUNDS=${ROUNDS:-2} SECS=${SECS:-5}
RATES=${RATES:-"500 1000 1500 2000 2500 3000 4000 5000 6000 8000"}
SOLO_STORE=${SOLO_STORE:-db}
DB=postgresql://
pids=()
# shellcheck source=SCRIPTDIR/procs.sh
. "$here/procs.sh"
# shellcheck source=SCRIPTDIR/free_port.sh
. "$here/free_port.sh"
logs=$(mktemp -d /tmp/sipd-cluster-bench.XXXXXX)
results=$logs/results
cleanup() {
    local p
    for p in "${pids[@]}"; do stop_wait "$p"; done
    wait 2>/dev/null
    if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "bench: logs kept in $logs" >&2; else rm -rf "$logs"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
: >"$results"

"$SIPD" --init-db --db "$DB" >"$logs/init-db.log" 2>&1 || { cat "$logs/init-db.log" >&2; exit 1; }
pm=$(pg_postmaster_pid)
[ -n "$pm" ] || echo "bench: PostgreSQL postmaster PID not found: the database's CPU is not shown" >&2

q() { psql -XAtqc "$1" 2>/dev/null; }
drop_pid() { local p keep=(); for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done; pids=("${keep[@]}"); }

# sip_ping PORT: true when 127.0.0.1:PORT answers an OPTIONS over UDP within 0.3 s
sip_ping() {
    python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys, random
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
lp = s.getsockname()[1]
b = "z9hG4bK-ping%d" % random.randrange(1 << 30)
m = ("OPTIONS sip:127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\n"
     "Max-Forwards: 70\r\nFrom: <sip:ping@example.com>;tag=p\r\nTo: <sip:127.0.0.1:%d>\r\n"
     "Call-ID: %s@bench\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n") % (port, lp, b, port, b)
s.sendto(m.encode(), ("127.0.0.1", port))
s.settimeout(0.3)
sys.exit(0 if s.recv(65535).startswith(b"SIP/2.0 ") else 1)
EOF
}

# start_node NAME ROLES PORT [memory]: a node as docs/cluster.md starts it; sets NODE_PID and
# waits (10 s at most) until it answers OPTIONS. "memory": no --db and --name (the memory store).
NODE_PID="" NODE_LOG="" runs=0
start_node() {
    local name=$1 roles=$2 port=$3 _
    runs=$((runs + 1))
    NODE_LOG=$logs/$name.$runs.log
    local args=(--foreground --api off --roles "$roles" --listen "udp:127.0.0.1:$port,tcp:127.0.0.1:$port"
        --domain example.com --log-level warn)
    [ "${4:-}" = memory ] || args+=(--db "$DB" --name "$name")
    # shellcheck disable=SC2206 # word splitting of the extra arguments is wanted
    args+=(${SIPD_EXTRA:-})
    "$SIPD" "${args[@]}" >"$NODE_LOG" 2>&1 &
    NODE_PID=$!
    pids+=("$NODE_PID")
    for _ in $(seq 1 100); do
        kill -0 "$NODE_PID" 2>/dev/null || { tail -20 "$NODE_LOG" >&2; echo "bench: node $name exited early" >&2; exit 1; }
        sip_ping "$port" && return 0
        sleep 0.1
    done
    echo "bench: node $name not answering after 10 s (log: $NODE_LOG)" >&2
    exit 1
}

# wait_heard SINCE NAME...: wait (10 s at most) until the balancer recorded an answered heartbeat
# after SINCE (a timestamp) for every named node.
wait_heard() {
    local since=$1 _ list
    shift
    list=$(printf "'%s'," "$@")
    for _ in $(seq 1 100); do
        [ "$(q "select count(distinct h.nid) from heartbeats h join nodes n using (nid)
                where h.ok and h.at > '$since' and n.name in (${list%,})")" = "$#" ] && return 0
        sleep 0.1
    done
    echo "bench: the balancer has not heard every node ($*) within 10 s" >&2
    exit 1
}

# start_balancer PORT NODE...: the sipd balancer; waits until it has heard the nodes; sets NODE_PID
start_balancer() {
    local port=$1 since
    shift
    since=$(q "select clock_timestamp()")
    start_node lb1 balancer "$port"
    wait_heard "$since" "$@"
}

# log_problems: warnings and errors the nodes stopped since the last call logged (stderr), so a
# misbehaving run is visible; each log is shown once (renamed *.seen)
log_problems() {
    local f n
    for f in "$logs"/*.*.log; do
        [ -e "$f" ] || continue
        n=$(grep -c . "$f")
        if [ "$n" -gt 0 ]; then
            echo "bench: $(basename "$f" .log) logged $n lines (warn/error), first ones:" >&2
            head -3 "$f" | sed 's/^/bench:   /' >&2
        fi
        mv "$f" "$f.seen"
    done
}

limit_run() { # label port
    local out l
    out=$("$shared/run.sh" limit call "127.0.0.1:$2" "$TR" "$RATES" "$SECS")
    echo "$out" | sed "s/^/$1: /" | grep -v '^[^:]*: limit '
    l=$(echo "$out" | tail -1)
    echo "$1 $l" | tee -a "$results"
}

echo "bench: $(nproc) cores; every process (SIPp UAC and UAS, balancer, proxy nodes, PostgreSQL) shares them"
echo "bench: calls over $TR from SIPp to 127.0.0.1, host target sip:svc@127.0.0.1:UAS_PORT; sipd $("$SIPD" --version 2>/dev/null | head -1)"

if [ "$what" = limit ] || [ "$what" = all ]; then
    echo "--- limit throughput (>= 99% success), steps: $RATES, $SECS s each"
    # (a) one proxy node alone
    p1=$(free_port)
    if [ "$SOLO_STORE" = memory ]; then
        start_node solo proxy "$p1" memory; solo_desc="memory store"
    else
        start_node p1 proxy "$p1"; solo_desc="on PostgreSQL"
    fi
    n1=$NODE_PID
    limit_run "node-alone" "$p1"
    stop_wait "$n1" "proxy node alone"; drop_pid "$n1"
    log_problems
    # (b) balancer + 1 proxy node, (c) balancer + 2 proxy nodes
    for n in 1 2; do
        p1=$(free_port); start_node p1 proxy "$p1"; n1=$NODE_PID; n2=""
        if [ "$n" = 2 ]; then p2=$(free_port); start_node p2 proxy "$p2"; n2=$NODE_PID; fi
        lp=$(free_port)
        if [ "$n" = 2 ]; then start_balancer "$lp" p1 p2; else start_balancer "$lp" p1; fi
        lb=$NODE_PID
        limit_run "balancer+${n}node" "$lp"
        stop_wait "$lb" balancer; drop_pid "$lb"
        for p in $n1 $n2; do stop_wait "$p" "proxy node"; drop_pid "$p"; done
        log_problems
    done
fi

if [ "$what" = cpu ] || [ "$what" = all ]; then
    echo "--- CPU per 1000 calls at $RATE/s x $COUNT, $ROUNDS round(s), in front of the same 2 proxy nodes"
    p1=$(free_port); start_node p1 proxy "$p1"; n1=$NODE_PID
    p2=$(free_port); start_node p2 proxy "$p2"; n2=$NODE_PID
    # cpu_run LABEL BALANCER_PID PORT: the harness counts the balancer (with its children); the
    # nodes and the database are read around the same run with tree_cpu (bench/procs.sh)
    cpu_run() {
        local label=$1 bpid=$2 port=$3 out a0 a1 b0 b1 d0=0 d1=0
        a0=$(tree_cpu "$n1"); b0=$(tree_cpu "$n2"); [ -n "$pm" ] && d0=$(tree_cpu "$pm")
        out=$("$shared/run.sh" cpu call "127.0.0.1:$port" "$bpid" "$TR" "$RATE" "$COUNT")
        a1=$(tree_cpu "$n1"); b1=$(tree_cpu "$n2"); [ -n "$pm" ] && d1=$(tree_cpu "$pm")
        echo "$label: $(echo "$out" | grep '^calls ')"
        echo "$out" | tail -1 | awk -v l="$label" -v a="$a0 $a1" -v b="$b0 $b1" -v d="$d0 $d1" -v c="$COUNT" '
            { split(a, A, " "); split(b, B, " "); split(d, D, " ")
              n1 = (A[2] - A[1]) * 1000 / c; n2 = (B[2] - B[1]) * 1000 / c
              printf "%s %s %s %s %s nodes %.4f p1 %.4f p2 %.4f postgres %.4f\n", l, $1, $2, $3, $4,
                     n1 + n2, n1, n2, (D[2] - D[1]) * 1000 / c }' | tee -a "$results"
        echo "$out" | grep -q 'ok=.* failed=0$' || echo "bench: $label: calls failed at $RATE/s (see above)" >&2
    }
    for r in $(seq 1 "$ROUNDS"); do
        lp=$(free_port); start_balancer "$lp" p1 p2; lb=$NODE_PID
        cpu_run sipd-balancer "$lb" "$lp"
        stop_wait "$lb" balancer; drop_pid "$lb"
        kp=$(free_port)
        k=$("$shared/kamailio-dispatcher.sh" "$kp" 1 "127.0.0.1:$p1,127.0.0.1:$p2" | tail -1)
        pids+=("$k")
        sleep 1.5 # its first OPTIONS round to the nodes
        cpu_run kamailio-dispatcher-1worker "$k" "$kp"
        stop_wait "$k" kamailio-dispatcher; drop_pid "$k"
        [ "$r" -lt "$ROUNDS" ] && echo "(round $r of $ROUNDS done)"
    done
    stop_wait "$n1" "proxy node p1"; drop_pid "$n1"
    stop_wait "$n2" "proxy node p2"; drop_pid "$n2"
    log_problems
fi

echo "--- summary ($(nproc) cores shared by every process: SIPp UAC and UAS, balancer, nodes, PostgreSQL)"
awk -v solo="${solo_desc:-}" -v tr="$TR" '
  $2 == "limit" { lim[$1] = $5 }
  $2 == "cpu" { n[$1]++; cpu[$1] += $5; node[$1] += $7; pg[$1] += $13 }
  END {
    if ("node-alone" in lim) {
        a = lim["node-alone"]
        printf "Figure 10 (calls over %s, limit throughput at >= 99%% success, calls/s):\n", tr
        printf "  %-44s %s\n", "one proxy node alone (" solo ")", a
        for (k = 1; k <= 2; k++) { l = "balancer+" k "node"
            if (l in lim) printf "  %-44s %s%s\n", "balancer + " k " proxy node" (k > 1 ? "s" : ""), lim[l],
                (a > 0 ? sprintf("  (%.2fx the node alone)", lim[l] / a) : "") }
        print "  (a limit equal to the top step means at least that; every process shares the same cores)"
    }
    sb = "sipd-balancer"; kd = "kamailio-dispatcher-1worker"
    if (n[sb] > 0) {
        b = cpu[sb] / n[sb]; nd = node[sb] / n[sb]
        printf "CPU-seconds per 1000 calls (mean of %d round%s):\n", n[sb], (n[sb] > 1 ? "s" : "")
        printf "  %-44s %.4f\n", "sipd balancer", b
        printf "  %-44s %.4f\n", "sipd proxy node (per call it carried)", nd
        printf "  %-44s %.4f\n", "PostgreSQL (heartbeats, node rows)", pg[sb] / n[sb]
        if (n[kd] > 0) {
            k = cpu[kd] / n[kd]
            printf "  %-44s %.4f\n", "Kamailio dispatcher, 1 worker", k
            printf "  %-44s %.4f\n", "sipd proxy node behind Kamailio", node[kd] / n[kd]
        }
        if (nd > 0) printf "ratio balancer / proxy node: %.2f (target <= 0.5, aim 0.33)\n", b / nd
        if (n[kd] > 0 && k > 0) printf "ratio balancer / Kamailio dispatcher: %.2f (target <= 1)\n", b / k
        if (b > 0) printf "one balancer feeds about %.1f proxy nodes (node CPU per call / balancer CPU per call)\n", nd / b
    }
  }' "$results"
exit 0
