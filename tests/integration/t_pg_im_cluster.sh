#!/bin/bash
# t_pg_im_cluster.sh - two broker nodes on one PostgreSQL database: a device subscribed on one
# node receives what is published through the other; publishing to one topic through both at
# once never hands out a seq twice. Client: py/im_cluster.py.
. "$(dirname "$0")/lib.sh"

pg_require
pg_new_db
sipd_start --db "$SIPD_DB" --set sipd.node_name=node-a
PORT_A=$SIP_PORT PID_A=$SIPD_PID
SIP_PORT= SIPD_PIDFILE=$T_DIR/sipd-b.pid
sipd_start --db "$SIPD_DB" --set sipd.node_name=node-b
PORT_B=$SIP_PORT
check "two nodes (py/im_cluster.py)" run_py im_cluster.py "$SIP_HOST" "$PORT_A" "$PORT_B" "$(new_user k)"
sipd_stop
SIPD_PID=$PID_A
sipd_stop
finish
