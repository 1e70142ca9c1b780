#!/bin/bash
# t_tls_api.sh - the REST API over HTTPS (api.tls, docs/tls.md) with the certificate SIP over TLS
# uses: /healthz over https with curl and sipctl (--cacert, --insecure), the token accepted for a
# write and a write refused without it, plain HTTP to the HTTPS port answered by no API; and the
# rule that the token never crosses the network in clear text: a non-loopback api.listen without
# api.tls is refused at start (exit 1, the cause named), api.tls without a certificate too.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/tls_lib.sh"
. "$IT_DIR/sipctl_lib.sh"

command -v curl >/dev/null || bail "curl not installed"
tls_make_certs "$T_DIR/certs" || bail "could not make test certificates"
C=$T_DIR/certs

# start-up refusals (nothing is bound: the check comes first)
P=$(pick_port) || bail "no free port"
out=$(timeout 10 "$SIPD" --foreground --listen "udp:$SIP_HOST:$P" --api "0.0.0.0:$P" 2>&1)
rc=$?
check "plain HTTP API on 0.0.0.0: refused at start, exit 1 (got $rc)" test "$rc" -eq 1
check "... saying the token would cross the network in clear text" grep -q "not a loopback address" <<<"$out"
check "... and naming the override api.allow_plain_remote" grep -q "api.allow_plain_remote" <<<"$out"
out=$(timeout 10 "$SIPD" --foreground --listen "udp:$SIP_HOST:$P" --api "[::]:$P" 2>&1)
rc=$?
check "plain HTTP API on [::]: refused too (got $rc)" test "$rc" -eq 1
out=$(timeout 10 "$SIPD" --foreground --listen "udp:$SIP_HOST:$P" --api "$SIP_HOST:$P" --set api.tls=true 2>&1)
rc=$?
check "api.tls without tls.cert/tls.key: a configuration error, exit 2 (got $rc)" test "$rc" -eq 2
check "... naming what is missing" grep -q "api.tls needs tls.cert and tls.key" <<<"$out"

tls_start_sipd --set api.tls=true
URL=https://$SIP_HOST:$API_PORT
check "sipd says the API is https" grep -q "api listening on https://$SIP_HOST:$API_PORT" "$SIPD_LOG"
code=$(curl -sS -o "$T_DIR/healthz" -w '%{http_code}' --cacert "$C/ca.pem" "$URL/healthz" 2>"$T_DIR/curl.err")
check "curl https /healthz verified against the CA: 200 (got $code)" test "$code" = 200
check "... with {\"status\":\"ok\"}" grep -q '"status": *"ok"' "$T_DIR/healthz"
proto=$(curl -sS -o /dev/null -w '%{scheme} %{http_version}' --cacert "$C/ca.pem" "$URL/healthz" 2>/dev/null)
check "... over HTTPS (got '$proto')" grep -qi "^https" <<<"$proto"
check "curl without the CA refuses the certificate" \
    bash -c "! curl -sS -o /dev/null '$URL/healthz' 2>/dev/null"
check "the API refuses TLS 1.1 and serves 1.2 and 1.3 (py/tls_sip.py old-tls)" \
    run_py tls_sip.py old-tls "$SIP_HOST" "$API_PORT" "$C" x --closed-ok
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 3 "http://$SIP_HOST:$API_PORT/healthz" 2>/dev/null)
check "plain HTTP to the HTTPS port gets no API answer (got '$code')" test "$code" != 200
topic="sip:tls-team-$(new_user g)@$DOMAIN"
code=$(curl -sS -o "$T_DIR/create" -w '%{http_code}' --cacert "$C/ca.pem" -X POST \
    -H "Authorization: Bearer $API_TOKEN" -H 'Content-Type: application/json' \
    -d "{\"topic\":\"$topic\",\"members\":[\"sip:a@$DOMAIN\"]}" "$URL/api/v1/topics")
check "curl over https: a write with the token is accepted (got $code)" test "$code" = 201
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$C/ca.pem" -X DELETE "$URL/api/v1/topics/$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "$topic")")
check "... and refused without it (got $code)" test "$code" = 401

ctl --url "$URL" --cacert "$C/ca.pem" stats
check "sipctl --cacert over https: stats, exit 0" rc_is 0
ctl --url "$URL" --insecure stats
check "sipctl --insecure over https: stats, exit 0" rc_is 0
ctl --url "$URL" stats
check "sipctl over https without the CA: exit 3 (the certificate is not trusted)" rc_is 3
check "... saying why in one line" err_is_one_line "^sipctl: cannot reach $URL"
ctl --url "$URL" --cacert "$C/ca.pem" --token "$API_TOKEN" topic add "$topic" "sip:b@$DOMAIN"
check "sipctl over https: a write with the token, exit 0" rc_is 0
check "... shows the new member" out_has "^sip:b@$DOMAIN$"
sipd_stop
finish
