#!/bin/bash
# t_tls_sip.sh - SIP over TLS (docs/tls.md): registration, a call between two TLS devices, sips:
# URIs, an `im` subscription and MESSAGE delivery, TLS 1.1 refused, stalled handshakes closed and
# bounded in number, start-up errors for credentials that do not load; baresip's TLS transport as
# a real client when it has one. Client: py/tls_sip.py (Python's ssl module: Debian's SIPp has no TLS).
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/tls_lib.sh"
. "$IT_DIR/baresip_lib.sh"

tls_make_certs "$T_DIR/certs" || bail "could not make test certificates"
C=$T_DIR/certs

# start-up errors: exit 1 with the cause named, nothing left running
P=$(pick_port) || bail "no free port"
out=$(timeout 10 "$SIPD" --foreground --listen "tls:$SIP_HOST:$P" --api off \
    --set tls.cert=/nonexistent/cert.pem --set "tls.key=$C/server.key" 2>&1)
rc=$?
check "a tls.cert that does not exist: exit 1 (got $rc)" test "$rc" -eq 1
check "... and the error names the file" grep -q "/nonexistent/cert.pem" <<<"$out"
out=$(timeout 10 "$SIPD" --foreground --listen "tls:$SIP_HOST:$P" --api off \
    --set "tls.cert=$C/server.pem" --set "tls.key=$C/ca.key" 2>&1)
rc=$?
check "a tls.key that does not match the certificate: exit 1 (got $rc)" test "$rc" -eq 1
check "... and the error names tls.key" grep -q "tls.key" <<<"$out"
out=$(timeout 10 "$SIPD" --foreground --listen "tls:$SIP_HOST:$P" --api off 2>&1)
rc=$?
check "a tls: listener without tls.cert/tls.key: a configuration error, exit 2 (got $rc)" test "$rc" -eq 2
check "... with a message saying so" grep -q "needs tls.cert and tls.key" <<<"$out"

tls_start_sipd --set tls.handshake_timeout_ms=1500
check "sipd logs its tls listener" grep -q "listening on tls:$SIP_HOST:$TLS_PORT" "$SIPD_LOG"
for case in register call sips im old-tls; do
    check "tls $case (py/tls_sip.py)" run_py tls_sip.py "$case" "$SIP_HOST" "$TLS_PORT" "$C" "$(new_user t)" \
        --udp-port "$SIP_PORT"
done
check "tls stall: handshakes that never finish are closed (py/tls_sip.py)" \
    run_py tls_sip.py stall "$SIP_HOST" "$TLS_PORT" "$C" "$(new_user t)" --timeout 1.5
check "sipd logged the handshake timeouts" grep -q "reason=tls-handshake-timeout" "$SIPD_LOG"
check "sipd logged the refused TLS 1.1 handshake" grep -q "tls handshake failed" "$SIPD_LOG"
# the plain transports still work next to TLS
check "OPTIONS over tcp still 200" sip_ping tcp "$SIP_HOST" "$SIP_PORT" 2
check "OPTIONS over udp still 200" sip_ping udp "$SIP_HOST" "$SIP_PORT" 2

# baresip's TLS transport, as a real client: registers over TLS
if ! command -v baresip >/dev/null; then
    log "SKIP baresip over TLS: baresip not installed"
elif ! ldd "$(command -v baresip)" 2>/dev/null | grep -q libssl; then
    log "SKIP baresip over TLS: this baresip is built without TLS (no libssl)"
else
    user=$(new_user br)
    baresip_start "$T_DIR/baresip" \
        "<sip:$user@$DOMAIN;transport=tls>;auth_pass=unused;outbound=\"sip:$SIP_HOST:$TLS_PORT;transport=tls\";regint=600" \
        "sip_cafile		$C/ca.pem"
    if baresip_wait_for "200 OK.*binding" 20; then
        printf 'PASS: %s\n' "baresip registers over TLS"
        check "baresip's REGISTER went over TLS (Via SIP/2.0/TLS)" grep -qa "^Via: SIP/2.0/TLS" "$BARESIP_OUT"
    elif grep -qai "transport.*not supported\|unsupported transport\|no.*tls" "$BARESIP_OUT"; then
        log "SKIP baresip over TLS: $(grep -ai 'transport\|tls' "$BARESIP_OUT" | head -1)"
    else
        fail "baresip did not register over TLS (trace: $BARESIP_OUT)"
    fi
    baresip_stop
fi

sipd_stop

# tls.max_handshakes bounds the handshakes in progress (memory)
tls_start_sipd --set tls.max_handshakes=3
check "tls max-handshakes (py/tls_sip.py)" run_py tls_sip.py max-handshakes "$SIP_HOST" "$TLS_PORT" "$C" x --max 3
check "sipd logged the refusal" grep -q "reason=max-handshakes limit=3" "$SIPD_LOG"
sipd_stop
finish
