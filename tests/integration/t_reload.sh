#!/bin/bash
# t_reload.sh - SIGHUP re-reads the configuration file (sipd/reload.c): a new log level and new
# registrar limits apply at once; a changed listen address is reported as not applied (and sipd
# keeps its old one); a key set by a flag keeps the flag's value; a broken file changes nothing.
. "$(dirname "$0")/lib.sh"

SIP_PORT=$(pick_port) || bail "no free port"
API_PORT=$(pick_port) || bail "no free port"
OTHER_PORT=$(pick_port) || bail "no free port"
CONF=$T_DIR/sipd.conf
write_conf() { # LOG_LEVEL SIP_PORT MIN_EXPIRES
    cat >"$CONF" <<EOC
[sipd]
listen = udp:$SIP_HOST:$2,tcp:$SIP_HOST:$2
domain = $DOMAIN
log_level = $1
pidfile = $SIPD_PIDFILE
[api]
listen = $SIP_HOST:$API_PORT
[registrar]
min_expires = $3
EOC
}
write_conf info "$SIP_PORT" 10
SIPD_LOG=$T_DIR/sipd.log
log "starting: $SIPD --foreground --config $CONF --set registrar.max_contacts=4"
"$SIPD" --foreground --config "$CONF" --set registrar.max_contacts=4 >"$SIPD_LOG" 2>&1 &
SIPD_PID=$!
track_pid "$SIPD_PID"
sipd_wait_ready udp "$SIP_HOST" "$SIP_PORT" || bail "sipd did not become ready"

# min_expires = 10: Expires: 30 is accepted, so the 423 scenario fails
run_sipp pre_423 register_423.xml udp -key user "$(new_user pre)" >/dev/null 2>&1
check "before the reload: REGISTER Expires: 30 is not answered 423" test $? -ne 0

write_conf debug "$OTHER_PORT" 60
echo "max_contacts = 9" >>"$CONF"
kill -HUP "$SIPD_PID"
wait_log() { for _ in $(seq 1 50); do grep -q "$1" "$SIPD_LOG" && return 0; sleep 0.1; done; return 1; }
check "SIGHUP: the new log level is applied and logged" wait_log "reload: sipd.log_level = debug applied"
check "SIGHUP: the changed listen address is reported as not applied" \
    wait_log "reload: sipd.listen changed: not applied"
check "SIGHUP: a key set on the command line keeps the flag's value" \
    wait_log "reload: registrar.max_contacts changed in the file but is set on the command line"
check "SIGHUP: the summary line counts 2 applied, 2 not applied" \
    wait_log "re-read: 2 change(s) applied, 2 not applied"
check "after the reload: still listening on the old port" sip_ping udp "$SIP_HOST" "$SIP_PORT" 2
check "after the reload: not listening on the new port" bash -c "! $PYTHON $SIPCLIENT ping udp $SIP_HOST $OTHER_PORT 0.5"
sipp_ok "after the reload: registrar.min_expires=60 applies (Expires: 30 gets 423)" \
    post_423 register_423.xml udp -key user "$(new_user post)"
check "after the reload: debug lines are logged" wait_log "Z debug "

# a file that does not parse changes nothing (the level stays debug)
write_conf error "$SIP_PORT" 60
echo "bogus_key = 1" >>"$CONF"
kill -HUP "$SIPD_PID"
check "SIGHUP with a broken file: nothing applied, the cause logged" \
    wait_log "reload: .*bogus_key: unknown key; nothing applied"
check "SIGHUP with a broken file: sipd still answers" sip_ping udp "$SIP_HOST" "$SIP_PORT" 2
check "SIGHUP with a broken file: the log level is unchanged" \
    bash -c '! grep -q "log_level = error applied" "$0"' "$SIPD_LOG"

sipd_stop
finish
