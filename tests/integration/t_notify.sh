#!/bin/bash
# t_notify.sh - sipd under systemd's Type=notify (sipd/notify.c), with a fake notify socket:
# READY=1 and STATUS= once it listens, WATCHDOG=1 at half of WATCHDOG_USEC, RELOADING=1 then
# READY=1 again around a SIGHUP, STOPPING=1 on SIGTERM.
. "$(dirname "$0")/lib.sh"

SOCK=$T_DIR/notify.sock
NOTES=$T_DIR/notify.txt
: >"$NOTES"
"$PYTHON" "$IT_DIR/py/notify_socket.py" "$SOCK" "$NOTES" 20 &
track_pid $!
for _ in $(seq 1 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || bail "the fake notify socket did not appear"

# 400 ms watchdog: sipd pings every 200 ms
NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=400000 sipd_start
count() { grep -c -- "$1" "$NOTES"; }
wait_note() { for _ in $(seq 1 50); do [ "$(count "$1")" -ge "${2:-1}" ] && return 0; sleep 0.1; done; return 1; }
check "READY=1 with a STATUS once listening" wait_note "READY=1|STATUS=ready roles=all store=memory"
check "WATCHDOG=1 pings, several in 1.5 s at a 400 ms watchdog" wait_note "^WATCHDOG=1$" 4
kill -HUP "$SIPD_PID"
check "SIGHUP: RELOADING=1" wait_note "^RELOADING=1"
check "SIGHUP: READY=1 again once reloaded" wait_note "READY=1" 2
sipd_stop
check "SIGTERM: STOPPING=1" wait_note "^STOPPING=1"
log "notifications received: $(sort "$NOTES" | uniq -c | tr '\n' ';')"
finish
