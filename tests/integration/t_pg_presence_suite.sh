#!/bin/bash
# t_pg_presence_suite.sh - the presence scenarios of the memory-store tests on PostgreSQL
# (publications in table presentities, sipd/store/pg/): the basic PUBLISH/SUBSCRIBE flow with
# entity-tags and 412, rejections, expiry of publications and subscriptions, composition of two
# publishers, fetch and 481; UDP and TCP. Client: py/presence_flow.py.
. "$(dirname "$0")/lib.sh"

pg_require
pg_new_db
sipd_start --db "$SIPD_DB" --set broker.presence_publish_min_expires=2 \
    --set broker.presence_min_expires=2
for scen in basic errors expiry compose fetch reject; do
    for tr in udp tcp; do
        check "postgres: presence $scen over $tr" run_py presence_flow.py "$scen" "$tr" \
            "$SIP_HOST" "$SIP_PORT"
    done
done
sipd_stop
finish
