#!/bin/bash
# t_pg_node_row.sh - a node's own row in `nodes` and its Sipd-Load header (docs/cluster.md, "This
# node's row and the Sipd-Load header"): with --db and --name the row appears with status 1, its
# roles, address and max_num; OPTIONS answers carry Sipd-Load state=active; an operator's UPDATE
# of draining is seen live (state=drained in the next answer, within 1 s); SIGTERM writes status
# 0; a restart keeps draining; with --exit-when-drained the node exits 0 by itself once drained;
# node.standby=yes gives waiting 1 and state=standby; a wildcard --listen without node.address is
# refused (exit 2); without --db the state is active. Client: py/sipd_load.py.
. "$(dirname "$0")/lib.sh"

pg_require
pg_new_db

q() { psql -XtAc "$1" 2>/dev/null; }
col() { q "SELECT $2 FROM nodes WHERE name = '$1'"; }
# col_is NAME EXPR VALUE: the row's EXPR is VALUE (queried when called: usable with `within`)
col_is() { [ "$(col "$1" "$2")" = "$3" ]; }
load_of() { run_py sipd_load.py udp "$SIP_HOST" "$1"; }
# is_load PORT VALUE: the next OPTIONS answer's Sipd-Load is VALUE
is_load() { [ "$(load_of "$1")" = "$2" ]; }
# within SECONDS COMMAND...: COMMAND succeeds within SECONDS (tried every 0.1 s)
within() {
    local end=$(($(date +%s%N) / 1000000 + $1 * 1000))
    shift
    until "$@"; do
        [ "$(($(date +%s%N) / 1000000))" -ge "$end" ] && return 1
        sleep 0.1
    done
}

# ---- the row and the header ----
sipd_start --db "$SIPD_DB" --name n1 --roles registrar,proxy --set node.max_num=300
P1=$SIP_PORT
check "row n1 has status 1" within 5 col_is n1 status 1
check "row n1 address is the first --listen entry" test "$(col n1 address)" = "udp:$SIP_HOST:$P1"
check "row n1 roles are registrar,proxy" test "$(col n1 roles)" = "{registrar,proxy}"
check "row n1 max_num is node.max_num" test "$(col n1 max_num)" = 300
check "row n1 is not waiting, not draining" test "$(col n1 "waiting || ',' || draining")" = "0,false"
check "OPTIONS carries Sipd-Load state=active" is_load "$P1" "work=0;max=300;state=active"

# ---- drain by an operator's UPDATE, applied live ----
q "UPDATE nodes SET draining = true WHERE name = 'n1'" >/dev/null
sleep 1
check "state=drained in the next OPTIONS answer, 1 s after the UPDATE" \
    is_load "$P1" "work=0;max=300;state=drained"
check "'node n1 drained' logged once" test "$(grep -c 'node n1 drained' "$SIPD_LOG")" = 1

# ---- SIGTERM writes status 0 ----
sipd_stop
check "status 0 after SIGTERM" test "$(col n1 status)" = 0
check "draining stays in the row" test "$(col n1 draining)" = t

# ---- a restart keeps draining; undraining applies live ----
sipd_start --db "$SIPD_DB" --name n1 --roles registrar,proxy --set node.max_num=300
check "restarted: status 1 again" within 5 col_is n1 status 1
check "restarted: still draining, state=drained" within 2 is_load "$P1" "work=0;max=300;state=drained"
q "UPDATE nodes SET draining = false WHERE name = 'n1'" >/dev/null
sleep 1
check "state=active 1 s after draining = false" is_load "$P1" "work=0;max=300;state=active"
sipd_stop

# ---- --exit-when-drained: the node exits 0 by itself ----
sipd_start --db "$SIPD_DB" --name n1 --roles registrar,proxy --set node.max_num=300 --exit-when-drained
check "exit-when-drained: active until drained" is_load "$P1" "work=0;max=300;state=active"
q "UPDATE nodes SET draining = true WHERE name = 'n1'" >/dev/null
pid=$SIPD_PID
check "exit-when-drained: the process is gone within 5 s of the UPDATE" \
    within 5 bash -c "! kill -0 $pid 2>/dev/null"
if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
fi
wait "$pid"
rc=$?
SIPD_PID=
check "exit-when-drained: exit status 0 (got $rc)" test "$rc" -eq 0
check "exit-when-drained: status 0 written" test "$(col n1 status)" = 0
check "exit-when-drained: 'node n1 drained' logged" grep -q 'node n1 drained' "$SIPD_LOG"

# ---- a standby node, with node.address given ----
SIP_PORT= SIPD_PIDFILE=$T_DIR/sipd-n2.pid
sipd_start --db "$SIPD_DB" --name n2 --roles proxy --set node.standby=yes \
    --set node.address=tcp:node2.example.com:5999
P2=$SIP_PORT
check "row n2 has status 1 and waiting 1" within 5 col_is n2 "status || ',' || waiting" "1,1"
check "row n2 address is node.address" test "$(col n2 address)" = "tcp:node2.example.com:5999"
check "row n2 max_num is the default 1000" test "$(col n2 max_num)" = 1000
check "standby: state=standby" is_load "$P2" "work=0;max=1000;state=standby"
q "UPDATE nodes SET waiting = 0 WHERE name = 'n2'" >/dev/null
sleep 1
check "promoted by an UPDATE: state=active 1 s later" is_load "$P2" "work=0;max=1000;state=active"
sipd_stop
check "n1 and n2 both have status 0" test "$(q "SELECT string_agg(name || '=' || status, ',' ORDER BY nid) FROM nodes")" = "n1=0,n2=0"

# ---- a wildcard listen address without node.address: refused ----
port=$(pick_port) || bail "no free port"
out=$(timeout 10 "$SIPD" --foreground --db "$SIPD_DB" --name n3 --listen "udp:0.0.0.0:$port" 2>&1)
rc=$?
check "wildcard --listen without node.address: exit 2 (got $rc)" test "$rc" -eq 2
check "... saying node.address is needed" grep -q "node.address" <<<"$out"
check "... and no row n3" test "$(q "SELECT count(*) FROM nodes WHERE name = 'n3'")" = 0

# ---- no --db: no row, state active (a --name alone changes nothing) ----
SIP_PORT= SIPD_PIDFILE=$T_DIR/sipd-mem.pid
sipd_start --name lonely --set node.max_num=50
check "no --db: state=active" is_load "$SIP_PORT" "work=0;max=50;state=active"
sipd_stop
check "no --db: no row written" test "$(q "SELECT count(*) FROM nodes WHERE name = 'lonely'")" = 0
finish
