#!/bin/bash
# cluster_lib.sh - helpers for the cluster tests (t_pg_cluster_*.sh): several sipd nodes and
# balancers on one PostgreSQL database, each on its own free port (UDP and TCP), started with
# --db --name --roles exactly as docs/cluster.md tells an operator. Source it after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$IT_DIR/cluster_lib.sh"
#   pg_require; pg_new_db
#   node_start r1 registrar; node_start p1 proxy; node_start lb1 balancer
#   cl_wait "lb1 sees p1 up" 5 node_up p1
#
# Heartbeats are fast in tests (cluster.heartbeat_ms=200 unless CL_HB_MS says otherwise), so a
# node is down ~0.6 s after it stops answering.
# shellcheck shell=bash

declare -A NODE_PORT=() NODE_PID=() NODE_LOG=() NODE_API=()
CL_HB_MS=${CL_HB_MS:-200}

# node_start NAME ROLES [SIPD ARGS...]: start a node (or balancer) and wait until it answers.
# Its REST API is at http://$SIP_HOST:${NODE_API[NAME]} (token $API_TOKEN).
node_start() {
    local name=$1 roles=$2 port log
    shift 2
    port=${NODE_PORT[$name]:-}
    [ -n "$port" ] || port=$(pick_port) || bail "no free port"
    [ -n "${NODE_API[$name]:-}" ] || NODE_API[$name]=$(pick_port) || bail "no free port"
    log=$T_DIR/$name.log
    [ -e "$log" ] && log=$T_DIR/$name.$RANDOM.log
    log "node $name: $SIPD --db $SIPD_DB --name $name --roles $roles --listen udp:$SIP_HOST:$port,tcp:$SIP_HOST:$port $*"
    "$SIPD" --foreground --db "$SIPD_DB" --name "$name" --roles "$roles" \
        --listen "udp:$SIP_HOST:$port,tcp:$SIP_HOST:$port" --domain "$DOMAIN" \
        --log-level "${CL_LOG_LEVEL:-debug}" --pidfile "$T_DIR/$name.pid" \
        --set "cluster.heartbeat_ms=$CL_HB_MS" --set cluster.failover_ms=1000 \
        --api "$SIP_HOST:${NODE_API[$name]}" --set "api.token=$API_TOKEN" "$@" >"$log" 2>&1 &
    NODE_PID[$name]=$!
    NODE_PORT[$name]=$port
    NODE_LOG[$name]=$log
    track_pid "$!"
    for _ in $(seq 1 100); do
        if ! kill -0 "${NODE_PID[$name]}" 2>/dev/null; then
            log "node $name exited early; log follows"
            tail -n 30 "$log" | sed 's/^/#   /'
            bail "node $name did not start"
        fi
        sip_ping udp "$SIP_HOST" "$port" 0.3 && return 0
        sleep 0.1
    done
    bail "node $name not answering after 10 s (log: $log)"
}

# node_stop NAME: SIGTERM, wait (10 s at most); its exit status (0 = clean).
node_stop() {
    local pid=${NODE_PID[$1]}
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid"
}

# node_kill NAME: SIGKILL (a crash); reaped.
node_kill() {
    kill -KILL "${NODE_PID[$1]}" 2>/dev/null
    wait "${NODE_PID[$1]}" 2>/dev/null
    return 0
}

# q SQL: one psql query, unaligned, tuples only.
q() { psql -XtAq -c "$1" 2>/dev/null; }

# node_col NAME COLUMN: a column of the node's row.
node_col() { q "select $2 from nodes where name = '$1'"; }

# q_is SQL VALUE: the query's answer is VALUE (evaluated at each call: for cl_wait).
q_is() { [ "$(q "$1")" = "$2" ]; }

# q_ge SQL N: the query's answer is a number >= N.
q_ge() { local v; v=$(q "$1"); [ -n "$v" ] && [ "$v" -ge "$2" ]; }

# cl_wait DESCRIPTION TIMEOUT_S COMMAND...: poll COMMAND every 0.1 s until it succeeds; PASS/FAIL.
cl_wait() {
    local what=$1 timeout=$2 start
    shift 2
    start=$(date +%s%N)
    while ! "$@" >/dev/null 2>&1; do
        if [ $(( ($(date +%s%N) - start) / 1000000 )) -ge $((timeout * 1000)) ]; then
            check "$what (within ${timeout}s)" false
            return 1
        fi
        sleep 0.1
    done
    check "$what (after $(( ($(date +%s%N) - start) / 1000000 )) ms)" true
}

# log_has NAME REGEX: the node's log matches.
log_has() { grep -Eq "$2" "${NODE_LOG[$1]}"; }

# received_by NAME METHOD: how many requests METHOD the node received (its debug log).
received_by() { grep -Ec "recv .*$2 sip:|request method=$2" "${NODE_LOG[$1]}"; }

# cl_host_uas [SECONDS]: a SIPp callee in server mode on a free port, answering every call for
# SECONDS (90) - the host target of the calls (a proxy node forwards sip:USER@HOST:PORT to it
# without the location service). Sets target=HOST:PORT. Needs proxy_cases.sh.
cl_host_uas() {
    local port
    port=$(pick_port) || bail "no free port"
    SIPP_TIMEOUT=${1:-90} px_sipp_server uas proxy_uas_plain.xml udp "$port" -m 100000 -key user uas
    # shellcheck disable=SC2034 # read by the tests that source this file
    target="$SIP_HOST:$port"
}
