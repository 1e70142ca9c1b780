#!/bin/bash
# t_pg_im_suite.sh - the im scenarios of the memory-store tests on PostgreSQL: fan-out to three
# devices, catch-up with since=, a group of 20, page mode, slow subscriber and gaps.
. "$(dirname "$0")/lib.sh"

pg_require
pg_new_db
prefix=$(new_user gm)
members=$(for i in $(seq 1 20); do printf 'sip:%s%d@%s ' "$prefix" "$i" "$DOMAIN"; done)
sipd_start --db "$SIPD_DB" --set "broker.groups=sip:team-$prefix@$DOMAIN=$members"
check "postgres: fan-out over tcp" run_py im_fanout.py tcp "$SIP_HOST" "$SIP_PORT" "$(new_user f)"
check "postgres: catch-up" run_py im_catchup.py tcp "$SIP_HOST" "$SIP_PORT" "$(new_user c)"
check "postgres: group of 20" run_py im_group.py tcp "$SIP_HOST" "$SIP_PORT" "sip:team-$prefix@$DOMAIN" "$prefix" 20
check "postgres: page mode over udp" run_py im_pagemode.py udp "$SIP_HOST" "$SIP_PORT" "$(new_user p)"
sipd_stop
SIP_PORT=
sipd_start --db "$SIPD_DB" --set broker.im_max_queue=4 --set broker.im_retention_count=20
check "postgres: slow subscriber and gaps" run_py im_slow.py tcp "$SIP_HOST" "$SIP_PORT" "$(new_user s)"
sipd_stop
finish
