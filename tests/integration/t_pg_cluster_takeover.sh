#!/bin/bash
# t_pg_cluster_takeover.sh - topic takeover (docs/im-event-package.md, "Topic takeover"): 1
# balancer and 2 brokers on one PostgreSQL database.
#   - bob's three devices subscribe through the balancer; the rows of their subscriptions are
#     written, owned by the broker that holds them;
#   - alice publishes to bob through the balancer at 50 messages/s for ~6 s and the owner is
#     SIGKILLed ~2 s in: the other broker takes the subscriptions over, and every device gets
#     every message whose publication was answered 2xx, in order, with no gap, at most one
#     duplicate and no re-SUBSCRIBE; refreshes reach the new owner (py/cluster_takeover.py);
#   - the rows now belong to the survivor; the dead broker comes back, and the same again with
#     another user whose topic's owner is drained (an UPDATE of its row) instead of killed: it
#     hands its subscriptions off to the other broker;
#   - a clean stop ends the subscriptions and deletes their rows.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/cluster_lib.sh"

pg_require
pg_new_db
for n in b1:broker b2:broker lb1:balancer; do
    node_start "${n%%:*}" "${n##*:}"
done
cl_wait "the balancer sees both brokers up" 5 q_is "select count(*) from nodes where status = 1" 3
cl_wait "answered heartbeats for both brokers" 5 \
    q_is "select count(distinct nid) from heartbeats where ok" 2

run=$(new_user t)
spec() { echo "$1:${NODE_PID[$1]}:${NODE_PORT[$1]}:${NODE_LOG[$1]}"; }
check "takeover while alice publishes, owner killed (py/cluster_takeover.py)" run_py cluster_takeover.py \
    "$SIP_HOST" "${NODE_PORT[lb1]}" "$run" kill "$(spec b1)" "$(spec b2)"
dead=
for n in b1 b2; do
    kill -0 "${NODE_PID[$n]}" 2>/dev/null || dead=$n
done
check "one broker was killed" test -n "$dead"
[ -n "$dead" ] || finish
node_kill "$dead"
alive=b1
[ "$dead" = b1 ] && alive=b2
check "the dead broker's row says status 0" q_is "select status from nodes where name = '$dead'" 0
check "the survivor logged the takeover" log_has "$alive" "im takeover: topic=sip:bob$run@example.com"
check "bob's 3 subscription rows belong to $alive" \
    q_is "select count(*) from subscriptions where topic = 'sip:bob$run@example.com' and node = '$alive'" 3

# the dead broker comes back; then the owner of another user's topic drains
node_start "$dead" broker
cl_wait "$dead is up again" 5 q_is "select status from nodes where name = '$dead'" 1
sleep 0.5 # the balancer's heartbeats see it answer
run2=$(new_user d)
check "takeover while alice publishes, owner drained (py/cluster_takeover.py)" run_py cluster_takeover.py \
    "$SIP_HOST" "${NODE_PORT[lb1]}" "$run2" drain "$(spec b1)" "$(spec b2)"
drained=$(q "select name from nodes where draining")
check "the drained broker handed its subscriptions off" log_has "$drained" "handing off [0-9]+ subscriptions"
check "bob's 3 rows of the second run moved off the drained broker" \
    q_is "select count(*) from subscriptions where topic = 'sip:bob$run2@example.com' and node <> '$drained'" 3

for n in lb1 b1 b2; do
    check "$n stops cleanly" node_stop "$n"
done
check "a clean stop ends the subscriptions: their rows are gone" \
    q_is "select count(*) from subscriptions" 0
finish
