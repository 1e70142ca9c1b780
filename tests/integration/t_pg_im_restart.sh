#!/bin/bash
# t_pg_im_restart.sh - broker on PostgreSQL: sipd is killed (SIGKILL) while a client publishes;
# after a restart every message that was answered 2xx is in the topic at its seq, seqs dense.
# Then a clean SIGTERM restart: the same again. Client: py/im_restart.py.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

pg_require
pg_new_db
user=$(new_user dur)
acked=$T_DIR/acked.txt
: >"$acked"
sipd_start --db "$SIPD_DB"
px_py_bg pub im_restart.py publish "$SIP_HOST" "$SIP_PORT" "$user" "$acked"
for _ in $(seq 1 100); do [ "$(wc -l <"$acked")" -ge 40 ] && break; sleep 0.05; done
log "killing sipd (SIGKILL) after $(wc -l <"$acked") acknowledged messages"
kill -KILL "$SIPD_PID"
wait "$SIPD_PID" 2>/dev/null
SIPD_PID=
px_bg_ok "the publisher stopped when the server died" pub
sipd_start --db "$SIPD_DB"
check "after SIGKILL and restart: nothing acknowledged is lost (py/im_restart.py)" \
    run_py im_restart.py verify "$SIP_HOST" "$SIP_PORT" "$user" "$acked"
sipd_stop
sipd_start --db "$SIPD_DB"
check "after SIGTERM and restart: still all there" \
    run_py im_restart.py verify "$SIP_HOST" "$SIP_PORT" "$user" "$acked"
sipd_stop
finish
