#!/bin/bash
# t_pg_cluster_failover.sh - a proxy node dies (SIGKILL) during a SIPp call run through the
# balancer (docs/cluster.md "What each failure does"):
#   - the balancer sees it down within 3 heartbeats (cluster.heartbeat_ms=200 here) and its row
#     gets status 0;
#   - no request goes to the dead node after that;
#   - at least 99% of the calls started after the detection succeed (they all go to the other
#     proxy); calls the dead node held are lost, the others of the first run complete;
#   - an INVITE sent to the dead node before the detection is retried on the other one
#     (cluster.failover_ms), so the client sees a success, not a timeout.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"
. "$IT_DIR/cluster_lib.sh"

pg_require
pg_new_db
node_start p1 proxy
node_start p2 proxy
node_start lb1 balancer
cl_wait "the balancer sees both proxies up" 5 log_has lb1 "node p2 .* joins the table status=1"
SIP_PORT=${NODE_PORT[lb1]}
cl_host_uas

# run 1: 20 calls/s for 6 s; p1 is killed 2 s in
px_new_cid
px_sipp_bg run1 cluster_uac.xml udp -m 120 -r 20 -s u1 -key target "$target"
sleep 2
p1_nid=$(node_col p1 nid)
killed_ms=$(date +%s%3N)
node_kill p1
cl_wait "the balancer marks p1 down within 3 beats (+1 beat of phase)" 1 log_has lb1 "node p1 .* is down"
detected=$(grep -m1 "node p1 .* is down" "${NODE_LOG[lb1]}" | cut -c1-23)
detected_ms=$(date -d "${detected/T/ } UTC" +%s%3N)
log "p1 killed at $killed_ms, seen down at $detected_ms ($((detected_ms - killed_ms)) ms)"
check "detection took at most 4 heartbeat periods ($((detected_ms - killed_ms)) ms)" \
    test $((detected_ms - killed_ms)) -le $((4 * CL_HB_MS + 100))
cl_wait "p1's row gets status 0" 3 q_is "select status from nodes where name = 'p1'" 0
wait "${PX_BG_PID[run1]}"
failed1=$(grep -E '^ *Failed call' "$T_DIR/run1.out" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
ok1=$(grep -E '^ *Successful call' "$T_DIR/run1.out" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
log "run 1 (p1 killed during it): $ok1 succeeded, $failed1 failed"
check "run 1: calls not held by p1 complete (at least 100 of 120)" test "${ok1:-0}" -ge 100

# run 2: everything after the detection
sipp_ok "run 2: 100 calls after the detection all succeed" run2 cluster_uac.xml udp -m 100 -r 25 \
    -s u2 -key target "$target"
after=$(awk -v t="$detected" 'substr($0,1,23) > t' "${NODE_LOG[lb1]}" | grep -c "edge: [A-Z]* to node nid=$p1_nid\b")
check "no request went to the dead node after its detection (got $after)" test "$after" -eq 0

# a node that stops answering (SIGSTOP) and comes back (SIGCONT): down, then up again
kill -STOP "${NODE_PID[p2]}"
cl_wait "p2 frozen: seen down" 2 log_has lb1 "node p2 .* is down"
cl_wait "and its row gets status 0" 2 q_is "select status from nodes where name = 'p2'" 0
px_call "no proxy up: a call is refused at once with 503 + Retry-After" udp --ruri "sip:u0@$target" \
    --expect 503 --expect-header-re 'retry-after=^ *[0-9]+ *$' --max-time 2
kill -CONT "${NODE_PID[p2]}"
cl_wait "p2 answers again: up" 2 log_has lb1 "node p2 .* is up"
cl_wait "and its row gets status 1 again" 2 q_is "select status from nodes where name = 'p2'" 1

# an INVITE toward a node that died unseen: heartbeats slowed so that the death is not noticed
node_stop lb1
node_start lb2 balancer --set cluster.heartbeat_ms=60000 --set cluster.failover_ms=500
node_start p3 proxy
cl_wait "lb2 knows p2 and p3" 5 log_has lb2 "node p3 .* joins the table status=1"
p3_nid=$(node_col p3 nid)
node_kill p3
SIP_PORT=${NODE_PORT[lb2]}
sipp_ok "10 calls while one of two proxies is dead and unnoticed: all succeed (failover)" run3 \
    cluster_uac.xml udp -m 10 -r 5 -s u3 -key target "$target"
check "some of them were first sent to the dead node, then retried" \
    log_has lb2 "edge: INVITE to node nid=$p3_nid\b"
check "p2 stops cleanly" node_stop p2
check "lb2 stops cleanly" node_stop lb2
finish
