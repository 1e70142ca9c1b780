#!/bin/bash
# t_pg_cluster_trust.sh - a cluster node takes requests only from the cluster's own nodes
# (cluster.accept_from, docs/cluster.md "Who may talk to a node"). Every node listens on
# 127.0.0.1; the stranger sends from 127.0.0.9 (Linux answers all of 127.0.0.0/8 on lo).
#   - a registrar answers OPTIONS from a node's address; a stranger's OPTIONS (the heartbeat's
#     method: the load it would reveal) and REGISTER get 403 "Not a cluster node", UDP and TCP;
#   - the same stranger registers through the balancer (the balancer is a node);
#   - a node row added with the stranger's address admits it, once the table says so;
#   - cluster.accept_from=any admits anyone; a prefix admits its addresses; a bad value stops
#     sipd at start with a message naming the key.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/cluster_lib.sh"
API_URL=
. "$IT_DIR/api_lib.sh"

pg_require
pg_new_db
STRANGER=127.0.0.9
from() { run_py from_addr.py "$@"; }
answers() { # answers WANT SRC TRANSPORT PORT METHOD: the answer's status line starts with WANT
    local want=$1 out
    shift
    out=$(from "$1" "$2" "$SIP_HOST" "$3" "$4" "$(new_user tr)" "$DOMAIN")
    log "from $1 over $2 to port $3: $4 -> $out"
    case $out in "$want"*) return 0 ;; *) return 1 ;; esac
}

node_start r1 registrar
node_start lb1 balancer
cl_wait "both rows have status 1" 5 q_is "select count(*) from nodes where status = 1" 2
cl_wait "the balancer's heartbeats to r1 are answered" 5 \
    q_ge "select count(*) from heartbeats h join nodes n using (nid) where n.name = 'r1' and h.ok" 1

P=${NODE_PORT[r1]}
check "OPTIONS from a node's address ($SIP_HOST): 200" answers 200 "$SIP_HOST" udp "$P" OPTIONS
for tr in udp tcp; do
    check "$tr: OPTIONS from $STRANGER: 403 Not a cluster node" answers "403 Not a cluster node" "$STRANGER" "$tr" "$P" OPTIONS
    check "$tr: REGISTER from $STRANGER: 403 Not a cluster node" answers "403 Not a cluster node" "$STRANGER" "$tr" "$P" REGISTER
done
check "... and the registrar's log says why" log_has r1 "refused: not a cluster node"
check "REGISTER from $STRANGER through the balancer: 200 (the node sees the balancer)" \
    answers 200 "$STRANGER" udp "${NODE_PORT[lb1]}" REGISTER

API_URL=http://$SIP_HOST:${NODE_API[r1]}
post "a node row with the stranger's address" 201 "j['name'] == 'edge9'" /api/v1/nodes \
    "{\"name\":\"edge9\",\"address\":\"udp:$STRANGER:5999\",\"roles\":[\"proxy\"],\"standby\":true}"
check "... then $STRANGER is admitted (within 5 s)" cl_wait "OPTIONS from $STRANGER answered 200" 5 \
    answers 200 "$STRANGER" udp "$P" OPTIONS
expect "remove it again" 204 "True" DELETE /api/v1/nodes/edge9 "${AUTH[@]}"
check "... and $STRANGER is refused again (within 5 s)" cl_wait "OPTIONS from $STRANGER refused" 5 \
    answers 403 "$STRANGER" udp "$P" OPTIONS

node_start r2 registrar --set cluster.accept_from=any
check "accept_from=any: OPTIONS from $STRANGER: 200" answers 200 "$STRANGER" udp "${NODE_PORT[r2]}" OPTIONS
node_start r3 registrar --set "cluster.accept_from=nodes,127.0.0.8/29"
check "accept_from=nodes,127.0.0.8/29: REGISTER from $STRANGER: 200" answers 200 "$STRANGER" udp "${NODE_PORT[r3]}" REGISTER
# (r3 has just started: until it has read the node table, what its prefixes do not admit gets 503)
check "... from 127.0.0.17 (outside): 403 once the table is read (within 5 s)" \
    cl_wait "REGISTER from 127.0.0.17 refused" 5 answers 403 127.0.0.17 udp "${NODE_PORT[r3]}" REGISTER

out=$(timeout 10 "$SIPD" --foreground --db "$SIPD_DB" --name bad --roles registrar \
    --listen "udp:$SIP_HOST:$(pick_port)" --api off --set cluster.accept_from=10.0.0.0/33 2>&1)
rc=$?
log "bad accept_from -> $rc: $out"
check "a bad cluster.accept_from stops sipd at start (exit 2, got $rc)" test "$rc" = 2
check "... with a message naming the key" grep -q "cluster.accept_from" <<<"$out"

node_stop r3
node_stop r2
node_stop lb1
node_stop r1
finish
