#!/bin/bash
# t_pg_cluster_ops.sh - what an operator does to a running cluster (docs/cluster.md):
#   - capacity: proxies with node.max_num 100 and 300 share the calls about 1:3;
#   - a proxy started while calls flow gets work within 2 s of its start;
#   - drain (an UPDATE of its row): the node gets no new calls, its calls in progress end normally,
#     it reports drained and, started with --exit-when-drained, exits 0 by itself;
#   - standby (node.standby=yes): no work while an active proxy has room; promoted (row waiting
#     0, calls flow through it) when the last active proxy dies.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"
. "$IT_DIR/cluster_lib.sh"

pg_require
pg_new_db
node_start pa proxy --set node.max_num=100 --exit-when-drained
node_start pb proxy --set node.max_num=300
node_start lb1 balancer
cl_wait "the balancer sees pa and pb" 5 log_has lb1 "node pb .* joins the table status=1"
SIP_PORT=${NODE_PORT[lb1]}
cl_host_uas 120
nid() { node_col "$1" nid; }
# sent NAME [SINCE]: INVITEs the balancer sent to node NAME (after log time SINCE, if given)
sent() {
    awk -v t="${2:-0}" 'substr($0,1,23) > t' "${NODE_LOG[lb1]}" | grep -c "edge: INVITE to node nid=$(nid "$1")\b"
}
now_log() { date -u +%Y-%m-%dT%H:%M:%S.%3N; }

# ---- capacity ----
t0=$(now_log)
sipp_ok "200 calls through the balancer" split cluster_uac.xml udp -m 200 -r 50 -s split -key target "$target"
a=$(sent pa "$t0") b=$(sent pb "$t0")
log "max_num 100 got $a calls, max_num 300 got $b"
check "max_num 100 and 300 share the calls about 1:3 ($a:$b)" test $((a + b)) -eq 200 -a $((b * 10)) -ge $((a * 25)) -a $((b * 10)) -le $((a * 35))

# ---- a node joins ----
px_new_cid
px_sipp_bg join cluster_uac.xml udp -m 100 -r 25 -s join -key target "$target"
sleep 1
node_start pc proxy
cl_wait "pc writes its row" 3 log_has pc "node pc row written"
started=$(grep -m1 "node pc row written" "${NODE_LOG[pc]}" | cut -c1-23)
px_bg_ok "calls while pc joins: all succeed" join
first=$(grep "edge: INVITE to node nid=$(nid pc)\b" "${NODE_LOG[lb1]}" | head -1 | cut -c1-23)
s_ms=$(date -d "${started/T/ } UTC" +%s%3N) f_ms=$(date -d "${first/T/ } UTC" +%s%3N 2>/dev/null || echo 0)
log "pc's row written at $started, its first call at ${first:-never}"
check "pc gets work within 2 s of its start ($((f_ms - s_ms)) ms)" test -n "$first" -a $((f_ms - s_ms)) -le 2000

# ---- drain ----
px_new_cid
px_sipp_bg drain cluster_uac.xml udp -m 40 -r 10 -d 2000 -s drain -key target "$target"
sleep 1.2
check "UPDATE nodes SET draining = true for pa" q "update nodes set draining = true where name = 'pa'"
cl_wait "the balancer applies the drain live" 2 log_has lb1 "node pa is draining"
drained_at=$(grep -m1 "node pa is draining" "${NODE_LOG[lb1]}" | cut -c1-23)
px_bg_ok "calls in progress on pa and new ones elsewhere all end normally" drain
check "no new call went to pa after the drain was seen (got $(sent pa "$drained_at"))" test "$(sent pa "$drained_at")" -eq 0
cl_wait "pa reports drained" 10 log_has pa "node pa drained"
for _ in $(seq 1 50); do kill -0 "${NODE_PID[pa]}" 2>/dev/null || break; sleep 0.1; done
wait "${NODE_PID[pa]}"
rc=$?
check "pa (--exit-when-drained) exits 0 by itself (got $rc)" test "$rc" -eq 0
check "the drain stays in the table" q_is "select draining from nodes where name = 'pa'" t

# ---- standby ----
node_start ps proxy --set node.standby=yes
cl_wait "a standby's row has waiting 1" 3 q_is "select waiting from nodes where name = 'ps'" 1
cl_wait "the balancer knows the standby" 2 log_has lb1 "node ps .* standby"
t1=$(now_log)
sipp_ok "20 calls while active proxies have room" standby1 cluster_uac.xml udp -m 20 -r 20 -s sb1 -key target "$target"
check "the standby got none of them" test "$(sent ps "$t1")" -eq 0
node_kill pb
node_kill pc
cl_wait "the last active proxy gone: the standby is promoted (row waiting 0)" 3 \
    q_is "select waiting from nodes where name = 'ps'" 0
check "the balancer says so" log_has lb1 "promoting standby node ps"
sipp_ok "calls flow through the promoted node" standby2 cluster_uac.xml udp -m 20 -r 20 -s sb2 -key target "$target"
check "ps took them" test "$(sent ps "$t1")" -ge 20
check "ps stops cleanly" node_stop ps
check "lb1 stops cleanly" node_stop lb1
finish
