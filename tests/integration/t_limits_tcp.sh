#!/bin/bash
# t_limits_tcp.sh - TCP and size limits (docs/limits.md):
#   - 2000 idle half-open connections from 127.0.0.2 (half holding the first bytes of a
#     REGISTER, half silent) do not stop a normal client (SIPp over TCP from 127.0.0.1) from
#     registering, and sipd closes every one after limits.tcp_stall_timeout_s (limit="stalled");
#   - limits.max_connections_per_source: from one address only that many are served, the rest
#     closed at once; another address still connects;
#   - too many header fields / a header line too long get 513, a body over the transport's
#     bound 413 (UDP and TCP bounds differ). Python py/halfopen.py, py/oversize.py; SIPp.
. "$(dirname "$0")/lib.sh"

N=2000 STALL=3
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log "ulimit -n $(ulimit -n)"
sipd_start --set limits.tcp_stall_timeout_s=$STALL --set limits.max_connections_per_source=5000 \
    --set limits.max_body_bytes_udp=1000 --set limits.max_body_bytes_tcp=4000 \
    --set limits.max_headers=64 --set limits.max_header_line_bytes=1024

run_py halfopen.py hold "$SIP_HOST" "$SIP_PORT" --bind 127.0.0.2 --count $N --stall $STALL \
    >"$T_DIR/hold.out" 2>&1 &
HOLD=$!
track_pid "$HOLD"
for _ in $(seq 1 200); do grep -q '^open' "$T_DIR/hold.out" && break; sleep 0.1; done
check "$N half-open connections from 127.0.0.2 are open" grep -q "^open $N\$" "$T_DIR/hold.out"
sipp_ok "a normal client registers over TCP while they are held" reg_tcp register_basic.xml tcp \
    -key user "$(new_user tcpok)"
wait "$HOLD"
rc=$?
log "hold: $(tail -n 1 "$T_DIR/hold.out")"
check "sipd closed all $N after about $STALL s, none before" test "$rc" -eq 0
stalled=$(curl -s --max-time 5 "$API_URL/metrics" |
    awk '/^sipd_limit_rejections_total\{limit="stalled"\}/ {print $2}')
check "sipd_limit_rejections_total{limit=stalled} counts them (${stalled:-none} >= $N)" \
    test "${stalled:-0}" -ge "$N"

check "oversized header and body refused, UDP (py/oversize.py)" \
    run_py oversize.py udp "$SIP_HOST" "$SIP_PORT" --max-headers 64 --max-line 1024 --max-body 1000
check "oversized header and body refused, TCP (py/oversize.py)" \
    run_py oversize.py tcp "$SIP_HOST" "$SIP_PORT" --max-headers 64 --max-line 1024 --max-body 4000
sipd_stop

SIP_PORT=
sipd_start --set limits.max_connections_per_source=5
check "per-source cap 5: of 8 connections from 127.0.0.2, 5 served and 3 closed" \
    run_py halfopen.py cap "$SIP_HOST" "$SIP_PORT" --bind 127.0.0.2 --count 8 --cap 5
check "... while 127.0.0.3 is still served over TCP" \
    run_py halfopen.py cap "$SIP_HOST" "$SIP_PORT" --bind 127.0.0.3 --count 1 --cap 1
sipd_stop
finish
