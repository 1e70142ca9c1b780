#!/bin/bash
# t_pg_cluster_pgdown.sh - PostgreSQL stops under a running cluster (docs/cluster.md "What each
# failure does"); run alone (run-all.sh EXCLUSIVE), since it stops the shared server:
#   - the balancer keeps routing from its last copy of the node table and live heartbeats: calls
#     to a host target still complete;
#   - requests that need the location service get 503 with Retry-After at once, never a timeout
#     (a call to a user of ours, a REGISTER);
#   - PostgreSQL back: the heartbeat results kept meanwhile are written (rows stamped during the
#     outage) and the node rows are current again.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"
. "$IT_DIR/cluster_lib.sh"

pg_require
pg_new_db
node_start r1 registrar
node_start p1 proxy
node_start lb1 balancer
cl_wait "the balancer sees r1 and p1" 5 log_has lb1 "node r1 .* joins the table status=1"
cl_wait "and p1" 5 log_has lb1 "node p1 .* joins the table status=1"
SIP_PORT=${NODE_PORT[lb1]}
cl_host_uas

pg_cluster_ctl stop || bail "could not stop PostgreSQL"
down_at=$(q_now=$(date -u +%s); echo "$q_now")
sleep 0.5
sipp_ok "PostgreSQL away: 20 calls to a host target through the balancer all complete" calls \
    cluster_uac.xml udp -m 20 -r 20 -s pgdown -key target "$target"
px_call "PostgreSQL away: a call to a user of ours gets 503 + Retry-After at once" udp \
    --to "$(new_user nobody)" --expect 503 --expect-header-re 'retry-after=^ *[0-9]+ *$' --max-time 3
check "PostgreSQL away: REGISTERs get a prompt 503/500 + Retry-After (py/pg_outage.py)" \
    run_py pg_outage.py outage "$SIP_HOST" "$SIP_PORT" 2
sleep 1
pg_cluster_ctl start || bail "could not start PostgreSQL again"
cl_wait "PostgreSQL back: the heartbeats kept during the outage are written" 10 \
    q_ge "select count(*) from heartbeats where ok and at > to_timestamp($down_at) and at < to_timestamp($down_at + 2)" 2
cl_wait "node rows current again (last_heartbeat within 2 s)" 10 \
    q_is "select count(*) from nodes where name in ('r1', 'p1') and last_heartbeat > now() - interval '2 s'" 2
for n in lb1 p1 r1; do
    check "$n stops cleanly" node_stop "$n"
done
finish
