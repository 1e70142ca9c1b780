#!/bin/bash
# t_pg_presence_cluster.sh - two nodes on one PostgreSQL database: a watcher subscribed on node
# A hears of publications made (and removed) through node B, by the database's announcement on
# channel sipd_pres; a change made on A itself is NOTIFYed once, not again for its own
# announcement; after A's listening connection is lost, A re-reads and NOTIFYs what it missed.
# UDP and TCP. Client: py/presence_cluster.py.
. "$(dirname "$0")/lib.sh"

pg_require
pg_new_db
APP_A=sipd_it_presence_node_a
sipd_start --db "$SIPD_DB?application_name=$APP_A" --set sipd.node_name=node-a \
    --set broker.presence_publish_min_expires=2 --set broker.presence_min_expires=2
PORT_A=$SIP_PORT PID_A=$SIPD_PID
SIP_PORT= API_PORT= SIPD_PIDFILE=$T_DIR/sipd-b.pid
sipd_start --db "$SIPD_DB" --set sipd.node_name=node-b --set broker.presence_publish_min_expires=2 \
    --set broker.presence_min_expires=2
PORT_B=$SIP_PORT
for tr in udp tcp; do
    check "two nodes: presence over $tr (py/presence_cluster.py)" run_py presence_cluster.py "$tr" \
        "$SIP_HOST" "$PORT_A" "$PORT_B" "$APP_A"
done
sipd_stop
SIPD_PID=$PID_A
sipd_stop
finish
