#!/bin/bash
# t_pg_cluster_basic.sh - a whole cluster on one PostgreSQL database: 2 balancers, 2 registrars,
# 2 proxies, 2 brokers (docs/cluster.md), every node started with --db --name --roles.
#   - every node's row appears with status 1, and both balancers write heartbeats for them;
#   - SIPp registrations and calls flow end to end through either balancer over UDP and TCP, a
#     user registered through one balancer is called through the other, and both registrars and
#     both proxies get work;
#   - im fan-out, refreshes and page mode through both balancers (py/cluster_im.py);
#   - a clean stop writes status 0.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"
. "$IT_DIR/cluster_lib.sh"

pg_require
pg_new_db
for n in r1:registrar r2:registrar p1:proxy p2:proxy b1:broker b2:broker lb1:balancer lb2:balancer; do
    node_start "${n%%:*}" "${n##*:}"
done
cl_wait "all 8 rows have status 1" 5 q_is "select count(*) from nodes where status = 1" 8
check "rows carry their roles and addresses" test "$(q "select roles::text || ' ' || address from nodes where name = 'p1'")" \
    = "{proxy} udp:$SIP_HOST:${NODE_PORT[p1]}"
cl_wait "answered heartbeats recorded for all 8 nodes (each balancer probes the others)" 5 \
    q_is "select count(distinct nid) from heartbeats where ok" 8
cl_wait "last_heartbeat and rtt_ms kept current" 5 \
    q_is "select count(*) from nodes where last_heartbeat > now() - interval '2 s' and rtt_ms is not null" 8

for pair in udp:lb1:lb2 tcp:lb2:lb1; do
    tr=${pair%%:*} rest=${pair#*:}
    # over TCP each balancer records its route twice (client side TCP, node side UDP: RFC 5658)
    if [ "$tr" = udp ]; then rr=3; else rr=5; fi
    via_reg=${rest%%:*} via_call=${rest##*:}
    px_new_cid
    user=$(new_user cl)
    SIP_PORT=${NODE_PORT[$via_reg]}
    px_register_uas "uas_$tr" proxy_uas_answer.xml "$tr" "$user" 1 ""
    check "$tr: the callee registered through $via_reg" px_wait_bindings "$user" 1
    SIP_PORT=${NODE_PORT[$via_call]}
    sipp_ok "$tr: a call through $via_call to the user registered through $via_reg: INVITE..200, ACK, BYE" \
        "uac_$tr" proxy_uac.xml "$tr" -cid_str "$PX_CID" -s "$user"
    px_bg_ok "$tr: the callee got INVITE, ACK and BYE (through the balancer)" "uas_$tr"
    uas=$(px_log "uas_$tr")
    px_msg "$tr: the callee's INVITE came through the balancer, a proxy and the balancer (4 Vias, $rr Record-Route)" \
        req "$uas" INVITE --vias 4 --rr "$rr"
done

SIP_PORT=${NODE_PORT[lb1]}
sipp_ok "50 REGISTERs through balancer 1 (UDP)" reg_load register_load.xml udp -m 50 -r 50 \
    -key user "$(new_user load)"
uas_port=$(pick_port) || bail "no free port"
px_sipp_server uas_host proxy_uas_plain.xml udp "$uas_port" -m 10 -key user host
sipp_ok "10 calls through balancer 1 to a host target (sip:USER@127.0.0.1:PORT): all complete" \
    uac_host cluster_uac.xml udp -m 10 -r 20 -s "$(new_user h)" -key target "$SIP_HOST:$uas_port"
px_bg_ok "the host target answered the 10 calls" uas_host
nid() { q "select nid from nodes where name = '$1'"; }
for n in r1 r2; do
    check "registrar $n got REGISTERs from balancer 1" log_has lb1 "edge: REGISTER to node nid=$(nid $n)\b"
done
for n in p1 p2; do
    check "proxy $n got INVITEs from balancer 1" log_has lb1 "edge: INVITE to node nid=$(nid $n)\b"
done

check "im through two balancers (py/cluster_im.py)" run_py cluster_im.py "$SIP_HOST" "${NODE_PORT[lb1]}" \
    "${NODE_PORT[lb2]}" "$(new_user i)"

check "p2 stops cleanly (SIGTERM, exit 0)" node_stop p2
cl_wait "a clean stop writes status 0" 3 q_is "select status from nodes where name = 'p2'" 0
for n in lb1 lb2 r1 r2 p1 b1 b2; do
    check "$n stops cleanly" node_stop "$n"
done
finish
