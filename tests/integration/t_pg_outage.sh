#!/bin/bash
# t_pg_outage.sh - PostgreSQL stops under a running sipd: every REGISTER gets 503/500 with
# Retry-After at once (none unanswered), OPTIONS still works; PostgreSQL starts again: sipd
# reconnects by itself within ~3 s and the bindings from before the outage are still there.
# /readyz says 503 "store unreachable" during the outage and 200 again after it (an external
# load balancer stops sending to the node meanwhile).
# Needs the pg_virtualenv cluster (run-all.sh) to stop and start it.
. "$(dirname "$0")/lib.sh"

pg_require
pg_new_db
RECOVER_LIMIT_S=${RECOVER_LIMIT_S:-4}
sipd_start --db "$SIPD_DB"
user=$(new_user outage)
sipp_ok "before the outage: c1 registered" before two_contacts_a.xml udp -key user "$user"

readyz_is() { # CODE REASON-ERE
    [ "$(curl -s --max-time 5 -o "$T_DIR/ready" -w '%{http_code}' "$API_URL/readyz")" = "$1" ] &&
        grep -Eq "$2" "$T_DIR/ready"
}
check "before the outage: /readyz 200" readyz_is 200 '"ready":true'
pg_cluster_ctl stop || bail "could not stop PostgreSQL"
wait_for() { local t=$1; shift; for _ in $(seq 1 $((t * 10))); do "$@" && return 0; sleep 0.1; done; return 1; }
check "during the outage: /readyz 503, store unreachable" wait_for 5 readyz_is 503 '"reason":"store unreachable"'
check "REGISTERs during the outage get a prompt 503/500 + Retry-After (py/pg_outage.py)" \
    run_py pg_outage.py outage "$SIP_HOST" "$SIP_PORT" 2
check "sipd still running during the outage" kill -0 "$SIPD_PID"

pg_cluster_ctl start || bail "could not start PostgreSQL again"
check "REGISTER works again within ${RECOVER_LIMIT_S}s of PostgreSQL's return" \
    run_py pg_outage.py recover "$SIP_HOST" "$SIP_PORT" "$RECOVER_LIMIT_S"
check "after the outage: /readyz 200 again" wait_for 5 readyz_is 200 '"ready":true'
sipp_ok "after the outage: the binding from before is still listed" after query_other.xml udp \
    -key user "$user"
sipd_stop
finish
