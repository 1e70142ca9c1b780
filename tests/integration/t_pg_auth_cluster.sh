#!/bin/bash
# t_pg_auth_cluster.sh - digest authentication in a cluster (docs/auth.md "In a cluster"): a
# registrar, a broker and a proxy node with auth on behind a balancer (auth on there too, which
# it ignores: it does not authenticate). The balancer's heartbeat OPTIONS are not challenged (every
# node stays up); the whole client check of py/auth_digest.py passes through the balancer, whose
# requests reach the node that challenges (401 from the registrar and the broker, 407 from the
# proxy) with Authorization / Proxy-Authorization passed through; failed attempts through the
# balancer are limited per user, not as the balancer's own (py/auth_cluster_fails.py).
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/cluster_lib.sh"

pg_require
pg_new_db
# r1 limits failed attempts hard (3 per source) and exempts nobody: the balancer it hears every
# attempt from is a cluster node, so it is not counted as one source (py/auth_cluster_fails.py)
node_start r1 registrar --auth on --set limits.exempt= --set auth.fail_burst=3 --set auth.fail_rate=0.01
for n in b1:broker p1:proxy lb1:balancer; do
    node_start "${n%%:*}" "${n##*:}" --auth on
done
cl_wait "all 4 rows have status 1" 5 q_is "select count(*) from nodes where status = 1" 4
cl_wait "answered heartbeats for the 3 nodes with auth on" 5 \
    q_is "select count(distinct h.nid) from heartbeats h join nodes n using (nid) where h.ok and n.name in ('r1', 'b1', 'p1')" 3
sleep 1
check "heartbeats keep answering: no node down" q_is "select count(*) from nodes where status = 1" 4
check "the balancer does not authenticate (no auth warning, no challenge from it)" \
    bash -c "! grep -Eq 'auth: |auth.enabled' '${NODE_LOG[lb1]}'"

PA=alice-pw-$RANDOM
PB=bob-pw-$RANDOM
for u in "alice:$PA" "bob:$PB"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $API_TOKEN" \
        -d "{\"user\":\"${u%%:*}@$DOMAIN\",\"password\":\"${u#*:}\"}" \
        "http://$SIP_HOST:${NODE_API[r1]}/api/v1/users")
    check "user ${u%%:*} added through r1's API: 201" test "$code" = 201
done
for tr in udp tcp; do
    check "py auth_digest through the balancer over $tr" \
        run_py auth_digest.py "$tr" "$SIP_HOST" "${NODE_PORT[lb1]}" "$PA" "$PB"
done
check "six clients' wrong passwords through the balancer are not one source's at the registrar" \
    run_py auth_cluster_fails.py udp "$SIP_HOST" "${NODE_PORT[lb1]}" "$PA"
check "the registrar challenged (401) and the proxy (407) - nodes, not the balancer" \
    bash -c "grep -q 'auth: ' '${NODE_LOG[r1]}' && grep -q 'auth: ' '${NODE_LOG[p1]}'"
for n in lb1 p1 b1 r1; do
    check "$n stops cleanly" node_stop "$n"
done
finish
