#!/bin/bash
# t_pg_restart_sipd.sh - with --db, bindings survive a sipd restart: register (UDP and TCP),
# SIGTERM (exit 0), start again on the same port, and a query from another client lists them.
. "$(dirname "$0")/lib.sh"

pg_require
pg_new_db
sipd_start --db "$SIPD_DB"
declare -A users
for tr in udp tcp; do
    users[$tr]=$(new_user keep)
    sipp_ok "before the restart over $tr: c1 registered" "before_$tr" two_contacts_a.xml "$tr" \
        -key user "${users[$tr]}"
done
sipd_stop
sipd_start --db "$SIPD_DB"
for tr in udp tcp; do
    sipp_ok "after the restart over $tr: a query lists c1" "after_$tr" query_other.xml "$tr" \
        -key user "${users[$tr]}"
done
sipd_stop
finish
