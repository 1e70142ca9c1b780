#!/bin/bash
# t_pg_cluster_ratelimit.sh - a cluster node does not rate-limit the cluster's own nodes
# (docs/limits.md "Clusters"): every request a balancer forwards comes from the balancer's
# address, a row of the node table, so the node lets it skip limits.rate without any
# limits.exempt. A source admitted only by a prefix of cluster.accept_from is still limited.
#   - registrar r1: limits.rate=5, limits.burst=5, limits.exempt empty,
#     cluster.accept_from=nodes,127.0.0.8/29; balancer lb1 with the default limits (loopback
#     exempt: it limits real client sources, not this test's client);
#   - a burst of REGISTER queries through lb1 (40/s for 3 s, far over r1's rate) is answered
#     200 every time, no 503;
#   - a direct flood of OPTIONS to r1 from 127.0.0.9 (admitted by the prefix) gets 503s and no
#     more 200s than r1's burst and rate allow.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/cluster_lib.sh"

pg_require
pg_new_db
RATE=5 BURST=5 SECS=3

node_start r1 registrar --set limits.exempt= --set limits.rate=$RATE --set limits.burst=$BURST \
    --set "cluster.accept_from=nodes,127.0.0.8/29"
# (failover_ms long: an ASan r1 on a loaded machine may take over a second to answer; this test is
# about r1's rate limit, not the balancer's failover)
node_start lb1 balancer --set cluster.failover_ms=10000
cl_wait "both rows have status 1" 5 q_is "select count(*) from nodes where status = 1" 2
cl_wait "the balancer's heartbeats to r1 are answered" 5 \
    q_ge "select count(*) from heartbeats h join nodes n using (nid) where n.name = 'r1' and h.ok" 1
# r1 trusts lb1 once its table shows lb1's row (read at start and on every change)
check "REGISTER through the balancer: 200" cl_wait "a REGISTER through lb1 answered 200" 5 \
    run_py from_addr.py "$SIP_HOST" udp "$SIP_HOST" "${NODE_PORT[lb1]}" REGISTER "$(new_user rl)" "$DOMAIN"

field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

run_py flood.py "$SIP_HOST" "${NODE_PORT[lb1]}" --bind "$SIP_HOST" --seconds $SECS --rate 40 \
    --method REGISTER --ruri "sip:$DOMAIN" --distinct-users --tail 5 >"$T_DIR/via_lb.json" 2>"$T_DIR/via_lb.err"
log "through lb1: $(cat "$T_DIR/via_lb.json")"
sent=$(field "$T_DIR/via_lb.json" sent) ok=$(field "$T_DIR/via_lb.json" ok)
thr=$(field "$T_DIR/via_lb.json" throttled)
check "the burst through lb1 is far over r1's rate ($sent > $((2 * (BURST + RATE * SECS))))" \
    test "$sent" -gt $((2 * (BURST + RATE * SECS)))
check "every request through lb1 answered 200 ($ok of $sent), none 503 ($thr)" \
    test "$ok" -eq "$sent" -a "$thr" -eq 0

run_py flood.py "$SIP_HOST" "${NODE_PORT[r1]}" --bind 127.0.0.9 --seconds $SECS --rate 100 \
    >"$T_DIR/direct.json" 2>"$T_DIR/direct.err"
log "from 127.0.0.9 to r1: $(cat "$T_DIR/direct.json")"
sent=$(field "$T_DIR/direct.json" sent) ok=$(field "$T_DIR/direct.json" ok)
thr=$(field "$T_DIR/direct.json" throttled)
check "127.0.0.9 (admitted by 127.0.0.8/29) is answered at first ($ok > 0)" test "$ok" -gt 0
check "... then throttled: 503s ($thr) and no more 200s than burst + rate allow ($ok <= $((BURST + RATE * (SECS + 2))))" \
    test "$thr" -gt 0 -a "$ok" -le $((BURST + RATE * (SECS + 2)))

node_stop lb1
node_stop r1
finish
