#!/bin/bash
# t_sigterm.sh - SIGTERM stops sipd cleanly (exit status 0, within 5 s) even with bindings stored
# and an idle TCP client connected; --pidfile holds the daemon's pid.
. "$(dirname "$0")/lib.sh"

sipd_start
check "pidfile holds the daemon's pid" test "$(cat "$SIPD_PIDFILE")" = "$SIPD_PID"
sipp_ok "a binding exists before the stop" reg register_basic.xml udp -key user "$(new_user term)"
# an idle TCP client that stays connected through the shutdown
"$PYTHON" -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
time.sleep(30)
' "$SIP_HOST" "$SIP_PORT" &
track_pid $!
sleep 0.3
pid=$SIPD_PID
start=$(date +%s%N)
kill -TERM "$pid"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check "sipd is gone within 5 s of SIGTERM" bash -c "! kill -0 $pid 2>/dev/null"
wait "$pid"
rc=$?
log "stopped after $((($(date +%s%N) - start) / 1000000)) ms"
check "exit status after SIGTERM is 0 (got $rc)" test "$rc" -eq 0
SIPD_PID=
finish
