#!/bin/bash
# t_api.sh - the REST API's frame on the memory store (docs/api.md): probes, errors as
# {"error","detail"} with the right status, the bearer token for writes, body limits, the event
# stream, and the --api flag (a busy address is a start-up error naming it; off disables it).
. "$(dirname "$0")/lib.sh"

sipd_start

. "$IT_DIR/api_lib.sh"

expect "GET /healthz" 200 "j == {'status': 'ok'}" GET /healthz
expect "GET /readyz on a running node" 200 "j['ready'] is True" GET /readyz
expect "GET /api/v1/nodes (memory store, no rows)" 200 "j['items'] == [] and j['next'] is None" GET /api/v1/nodes
expect "an unknown node is 404 with error and detail" 404 "j['error'] == 'not found' and 'nosuch' in j['detail']" GET /api/v1/nodes/nosuch
expect "an unknown route is 404" 404 "'error' in j and 'detail' in j" GET /api/v1/nope
expect "a method the route does not take is 405" 405 "j['error'] == 'method not allowed'" DELETE /api/v1/nodes
check "... with an Allow header naming GET" bash -c "curl -s -i -X DELETE $API_URL/api/v1/nodes | grep -qi '^Allow: GET'"
expect "a write without the token is 401" 401 "j['error'] == 'unauthorized'" POST /api/v1/nodes/x/drain
expect "a write with a wrong token is 401" 401 "j['error'] == 'unauthorized'" POST /api/v1/nodes/x/drain -H "Authorization: Bearer wrong"
expect "a write with the token reaches the handler (404: no such node)" 404 "'x' in j['detail']" POST /api/v1/nodes/x/drain "${AUTH[@]}"
head -c 70000 /dev/zero | tr '\0' 'a' >"$T_DIR/big"
expect "a body over 64 KiB is 413" 413 "j['error'] == 'body too big'" POST /api/v1/nodes/x/drain "${AUTH[@]}" --data-binary "@$T_DIR/big"
expect "a '+' in a path segment is itself, not a space" 404 "'a+b' in j['detail']" GET /api/v1/nodes/a+b
expect "a bad %-escape in a path segment is 400" 400 "j['error'] == 'bad path'" GET /api/v1/nodes/a%zz
expect "a path cannot climb out of the status page's directory" 404 "'error' in j" GET /../../etc/passwd --path-as-is
check "a malformed request does not stop the server" sip_ping udp "$SIP_HOST" "$SIP_PORT" 2

# the event stream: headers, then the greeting; the connection stays open
curl -s -N --max-time 2 -D "$T_DIR/sse.h" "$API_URL/api/v1/events" >"$T_DIR/sse.b"
check "GET /api/v1/events is text/event-stream" grep -qi '^Content-Type: text/event-stream' "$T_DIR/sse.h"
check "... and stays open, starting with a comment line" grep -q '^: sipd event stream' "$T_DIR/sse.b"

# /metrics: Prometheus text that promtool accepts, with the request counters moving
check "an OPTIONS before reading the metrics" sip_ping udp "$SIP_HOST" "$SIP_PORT" 2
curl -s --max-time 10 -D "$T_DIR/m.h" "$API_URL/metrics" >"$T_DIR/metrics.txt"
check "GET /metrics is text/plain version 0.0.4" grep -qi '^Content-Type: text/plain; version=0.0.4' "$T_DIR/m.h"
check "promtool check metrics accepts it" bash -c "promtool check metrics <'$T_DIR/metrics.txt'"
check "... and it counts the OPTIONS received" grep -Eq '^sipd_requests_received_total\{method="OPTIONS"\} [1-9]' "$T_DIR/metrics.txt"
check "... and the 2xx sent to it" grep -Eq '^sipd_responses_sent_total\{method="OPTIONS",class="2xx"\} [1-9]' "$T_DIR/metrics.txt"
expect "GET /api/v1/stats has the same numbers as JSON" 200 \
    "j['counters']['sipd_requests_received_total{method=\"OPTIONS\"}'] >= 1 and 'sipd_registrations' in j['gauges']" GET /api/v1/stats

# the event stream carries a registration as it happens
curl -s -N --max-time 4 "$API_URL/api/v1/events" >"$T_DIR/sse.reg" &
sse=$!
sleep 0.5
sipp_ok "REGISTER bob while a client streams events" reg_ev register_basic.xml udp -key user "$(new_user evbob)"
wait "$sse"
check "the stream shows the registration (event: registration, change added)" \
    grep -q '"change":"added"' "$T_DIR/sse.reg"
check "... naming the AOR" grep -q 'evbob' "$T_DIR/sse.reg"

# --api on an address in use: start-up error naming the flag, exit 1, nothing left running
P=$(pick_port)
out=$(timeout -k 1 10 "$SIPD" --foreground --listen "udp:127.0.0.1:$P" --api "127.0.0.1:$API_PORT" 2>&1)
rc=$?
log "busy --api: rc=$rc $out"
check "--api on a busy address exits 1 (got $rc)" test "$rc" -eq 1
check "... naming --api and the cause" bash -c "grep -q -- '--api 127.0.0.1:$API_PORT: Address already in use' <<<\"\$1\"" _ "$out"
out=$(timeout -k 1 10 "$SIPD" --foreground --listen "udp:127.0.0.1:$P" --api "127.0.0.1" 2>&1)
check "--api without a port is refused (got $?)" test "$?" -ne 0
sipd_stop

# --api off: no HTTP listener at all
API_PORT_OLD=$API_PORT
sipd_start --api off
check "--api off: nothing listens on the API port" bash -c "! curl -s --max-time 2 http://$SIP_HOST:$API_PORT_OLD/healthz"
sipd_stop
finish
