#!/bin/bash
# t_pg_restart_postgres.sh - PostgreSQL restarts (pg_ctlcluster restart) under a running sipd that
# is idle: sipd notices, reconnects by itself within ~3 s; REGISTER works over UDP and TCP and the
# bindings from before the restart are still listed.
. "$(dirname "$0")/lib.sh"

pg_require
pg_new_db
RECOVER_LIMIT_S=${RECOVER_LIMIT_S:-4}
sipd_start --db "$SIPD_DB"
declare -A users
for tr in udp tcp; do
    users[$tr]=$(new_user pgrs)
    sipp_ok "before the restart over $tr: c1 registered" "before_$tr" two_contacts_a.xml "$tr" \
        -key user "${users[$tr]}"
done

pg_cluster_ctl restart || bail "could not restart PostgreSQL"
check "REGISTER works again within ${RECOVER_LIMIT_S}s of the restart" \
    run_py pg_outage.py recover "$SIP_HOST" "$SIP_PORT" "$RECOVER_LIMIT_S"
for tr in udp tcp; do
    sipp_ok "after the restart over $tr: a second device's 200 lists c1 and c2" "after_$tr" \
        two_contacts_b.xml "$tr" -key user "${users[$tr]}"
done
sipd_stop
finish
