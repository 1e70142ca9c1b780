#!/bin/bash
# t_pg_outage.sh - PostgreSQL stops under a running sipd: every REGISTER gets 503/500 with
# Retry-After at once (none unanswered), OPTIONS still works; PostgreSQL starts again: sipd
# reconnects by itself within ~3 s and the bindings from before the outage are still there.
# Needs the pg_virtualenv cluster (run-all.sh) to stop and start it.
. "$(dirname "$0")/lib.sh"

pg_require
pg_new_db
RECOVER_LIMIT_S=${RECOVER_LIMIT_S:-4}
sipd_start --db "$SIPD_DB"
user=$(new_user outage)
sipp_ok "before the outage: c1 registered" before two_contacts_a.xml udp -key user "$user"

pg_cluster_ctl stop || bail "could not stop PostgreSQL"
check "REGISTERs during the outage get a prompt 503/500 + Retry-After (py/pg_outage.py)" \
    run_py pg_outage.py outage "$SIP_HOST" "$SIP_PORT" 2
check "sipd still running during the outage" kill -0 "$SIPD_PID"

pg_cluster_ctl start || bail "could not start PostgreSQL again"
check "REGISTER works again within ${RECOVER_LIMIT_S}s of PostgreSQL's return" \
    run_py pg_outage.py recover "$SIP_HOST" "$SIP_PORT" "$RECOVER_LIMIT_S"
sipp_ok "after the outage: the binding from before is still listed" after query_other.xml udp \
    -key user "$user"
sipd_stop
finish
