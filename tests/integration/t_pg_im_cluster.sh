#!/bin/bash
# t_pg_im_cluster.sh - two broker nodes on one PostgreSQL database: a device subscribed on one
# node receives what is published through the other; publishing to one topic through both at
# once never hands out a seq twice; what is published through one node for an offline device is
# delivered when it registers at the other. Clients: py/im_cluster.py, py/im_cluster_offline.py.
. "$(dirname "$0")/lib.sh"

pg_require
pg_new_db
prefix=$(new_user gc)
group="sip:crew-$prefix@$DOMAIN"
groups="$group=sip:${prefix}1@$DOMAIN sip:${prefix}2@$DOMAIN"
sipd_start --db "$SIPD_DB" --set sipd.node_name=node-a --set "broker.groups=$groups"
PORT_A=$SIP_PORT PID_A=$SIPD_PID
SIP_PORT= API_PORT= SIPD_PIDFILE=$T_DIR/sipd-b.pid
sipd_start --db "$SIPD_DB" --set sipd.node_name=node-b --set "broker.groups=$groups"
PORT_B=$SIP_PORT
check "two nodes (py/im_cluster.py)" run_py im_cluster.py "$SIP_HOST" "$PORT_A" "$PORT_B" "$(new_user k)"
check "two nodes, offline devices (py/im_cluster_offline.py)" \
    run_py im_cluster_offline.py "$SIP_HOST" "$PORT_A" "$PORT_B" "$(new_user o)" "$group" "$prefix"
sipd_stop
SIPD_PID=$PID_A
sipd_stop
finish
