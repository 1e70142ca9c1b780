#!/bin/bash
# t_pg_presence_policy.sh - the presence watch policy on PostgreSQL (docs/presence.md §6.1):
# `sipd --init-db` creates the presence_rules table (schema/009_presence_rules.sql) empty; rules
# put through node A's API (sipctl, REST) are one row, read by node B for its next SUBSCRIBE at
# once: a watcher of another domain refused by both, then allowed on B after `presence allow`
# through A; bob blocked through B's REST is refused by A; `unlist` takes him off again. Auth
# on (users through A); client: py/presence_policy.py.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/sipctl_lib.sh"
. "$IT_DIR/api_lib.sh"

pg_require
pg_new_db
q() { psql -XtAc "$1" 2>/dev/null; }
check "--init-db creates presence_rules, empty" test "$(q 'SELECT count(*) FROM presence_rules')" = 0

T=(--token "$API_TOKEN")
PB=bob-pw-$RANDOM

sipd_start --db "$SIPD_DB" --auth on
PORT_A=$SIP_PORT
API_A=$API_URL

PORT_B=$(pick_port) || bail "no free port"
APIP_B=$(pick_port) || bail "no free port"
API_B=http://$SIP_HOST:$APIP_B
"$SIPD" --foreground --listen "udp:$SIP_HOST:$PORT_B,tcp:$SIP_HOST:$PORT_B" --domain "$DOMAIN" \
    --db "$SIPD_DB" --auth on --log-level debug \
    --api "$SIP_HOST:$APIP_B" --set "api.token=$API_TOKEN" >"$T_DIR/sipd.b.log" 2>&1 &
PID_B=$!
track_pid "$PID_B"
for _ in $(seq 1 100); do sip_ping udp "$SIP_HOST" "$PORT_B" 0.3 && break; sleep 0.1; done
sip_ping udp "$SIP_HOST" "$PORT_B" 1 || bail "node B did not become ready ($T_DIR/sipd.b.log)"

# watch WHAT PORT TRANSPORT WATCHER PASSWORD WANT: WATCHER's SUBSCRIBE to alice at PORT
watch() {
    check "$1" run_py presence_policy.py "$3" "$SIP_HOST" "$2" alice "$4" "$5" "$6"
}

export SIPCTL_URL=$API_A
ctl "${T[@]}" user add "alice@$DOMAIN" --password "alice-pw-$RANDOM"
ctl "${T[@]}" user add "bob@$DOMAIN" --password "$PB"
check "users added through node A" rc_is 0

watch "node A: dave of another domain, no rules: 403" "$PORT_A" udp dave@example.org - 403
watch "node B: the same: 403" "$PORT_B" udp dave@example.org - 403
ctl "${T[@]}" presence allow "alice@$DOMAIN" dave@example.org
check "sipctl presence allow dave through node A: exit 0" rc_is 0
check "one row in presence_rules, dave canonical on its allow list" \
    test "$(q "SELECT allow::text || block::text FROM presence_rules WHERE aor = 'sip:alice@$DOMAIN'")" = '{sip:dave@example.org}{}'
watch "node B: dave, allowed through node A: accepted at once" "$PORT_B" udp dave@example.org - 200
watch "node B over TCP too" "$PORT_B" tcp dave@example.org - 200

watch "node A: bob (authenticated), no block: accepted" "$PORT_A" udp "bob@$DOMAIN" "$PB" 200
API_URL=$API_B expect "PUT rules through node B: dave allowed, bob blocked" 200 \
    "j['allow'] == ['sip:dave@example.org'] and j['block'] == ['sip:bob@$DOMAIN']" \
    PUT "/api/v1/presence/alice%40$DOMAIN/rules" "${AUTH[@]}" "${JSON[@]}" \
    --data-binary "{\"allow\": [\"sip:dave@example.org\"], \"block\": [\"bob@$DOMAIN\"]}"
expect "node A reads the rules node B wrote" 200 "j['block'] == ['sip:bob@$DOMAIN']" \
    GET "/api/v1/presence/alice%40$DOMAIN/rules"
watch "node A: bob, blocked through node B: 403" "$PORT_A" udp "bob@$DOMAIN" "$PB" 403
ctl "${T[@]}" presence unlist "alice@$DOMAIN" "bob@$DOMAIN"
check "sipctl presence unlist bob through node A: exit 0" rc_is 0
watch "node B: bob unlisted: accepted" "$PORT_B" udp "bob@$DOMAIN" "$PB" 200
SIPCTL_URL=$API_B ctl "${T[@]}" presence unlist "alice@$DOMAIN" dave@example.org
check "the last entry unlisted through node B: no row left" \
    bash -c "[ $RC = 0 ] && [ \"\$(psql -XtAc 'SELECT count(*) FROM presence_rules' 2>/dev/null)\" = 0 ]"
watch "node A: dave, no longer allowed: 403" "$PORT_A" udp dave@example.org - 403

kill -TERM "$PID_B"
wait "$PID_B"
check "node B exits 0" test $? = 0
sipd_stop
finish
