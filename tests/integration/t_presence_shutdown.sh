#!/bin/bash
# t_presence_shutdown.sh - when sipd stops (SIGTERM) every presence subscription gets a final
# NOTIFY terminated;reason=deactivated, within the shutdown grace period (RFC 6665 §4.4.2).
# Memory store; one watcher over UDP and one over TCP (py/presence_flow.py shutdown), running in
# the background while the daemon is stopped.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/presence_cases.sh"

sipd_start "${PRESENCE_FLAGS[@]}"
pids=()
for tr in udp tcp; do
    rm -f "$T_DIR/ready.$tr"
    timeout -k 5 30 "$PYTHON" "$IT_DIR/py/presence_flow.py" shutdown "$tr" "$SIP_HOST" "$SIP_PORT" \
        "$T_DIR/ready.$tr" >"$T_DIR/watcher.$tr.log" 2>&1 &
    pids+=($!)
    track_pid "$!"
done
for tr in udp tcp; do
    for _ in $(seq 1 100); do
        [ -e "$T_DIR/ready.$tr" ] && break
        sleep 0.1
    done
    check "the $tr watcher is subscribed" test -e "$T_DIR/ready.$tr"
done
sipd_stop
i=0
for tr in udp tcp; do
    wait "${pids[$i]}"
    rc=$?
    sed 's/^/#   /' "$T_DIR/watcher.$tr.log"
    check "the $tr watcher got NOTIFY terminated;reason=deactivated (exit $rc)" test "$rc" -eq 0
    i=$((i + 1))
done
finish
