#!/bin/bash
# t_pg_auth.sh - digest authentication on PostgreSQL (docs/auth.md): `sipd --init-db` creates no
# user; users added with sipctl through one node are stored as HA1s only (schema/008_auth.sql)
# and seen by the other node; both nodes share one nonce secret (one auth_secret row), so a
# nonce issued by one authenticates at the other (py/auth_nodes.py); the full client checks of
# py/auth_digest.py pass against either node on the database.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/sipctl_lib.sh"

pg_require
pg_new_db
q() { psql -XtAc "$1" 2>/dev/null; }

check "--init-db creates no user" test "$(q 'SELECT count(*) FROM users')" = 0
check "--init-db creates no secret (the first node does)" test "$(q 'SELECT count(*) FROM auth_secret')" = 0

T=(--token "$API_TOKEN")
PA=alice-pw-$RANDOM
PB=bob-pw-$RANDOM

sipd_start --db "$SIPD_DB" --auth on --set auth.nonce_ttl_s=2
PORT_A=$SIP_PORT
API_A=$API_URL
LOG_A=$SIPD_LOG

# node B: a second daemon on the same database (not through sipd_start: it keeps one daemon)
PORT_B=$(pick_port) || bail "no free port"
APIP_B=$(pick_port) || bail "no free port"
"$SIPD" --foreground --listen "udp:$SIP_HOST:$PORT_B,tcp:$SIP_HOST:$PORT_B" --domain "$DOMAIN" \
    --db "$SIPD_DB" --auth on --log-level debug \
    --api "$SIP_HOST:$APIP_B" --set "api.token=$API_TOKEN" >"$T_DIR/sipd.b.log" 2>&1 &
PID_B=$!
track_pid "$PID_B"
for _ in $(seq 1 100); do sip_ping udp "$SIP_HOST" "$PORT_B" 0.3 && break; sleep 0.1; done
sip_ping udp "$SIP_HOST" "$PORT_B" 1 || bail "node B did not become ready ($T_DIR/sipd.b.log)"

SIPCTL_URL=$API_A ctl "${T[@]}" user add "alice@$DOMAIN" --password "$PA"
check "user add through node A: exit 0" rc_is 0
SIPCTL_URL=http://$SIP_HOST:$APIP_B ctl "${T[@]}" user add "bob@$DOMAIN" --password "$PB"
check "user add through node B: exit 0" rc_is 0
SIPCTL_URL=http://$SIP_HOST:$APIP_B ctl user list
check "node B lists both users" bash -c "grep -q 'sip:alice@$DOMAIN' '$T_DIR/out' && grep -q 'sip:bob@$DOMAIN' '$T_DIR/out'"
check "users holds HA1s in hex, no password" \
    test "$(q "SELECT count(*) FROM users WHERE ha1_md5 ~ '^[0-9a-f]{32}\$' AND ha1_sha256 ~ '^[0-9a-f]{64}\$' AND position('$PA' IN users::text) = 0")" = 2
for tr in udp tcp; do
    check "py auth_nodes over $tr: each node accepts the other's nonces" \
        run_py auth_nodes.py "$tr" "$SIP_HOST" "$PORT_A" "$PORT_B" "$PA"
done
check "one shared secret row" test "$(q 'SELECT count(*) FROM auth_secret')" = 1
check "py auth_digest against node A (PostgreSQL)" \
    run_py auth_digest.py udp "$SIP_HOST" "$PORT_A" "$PA" "$PB" 2
check "py auth_digest against node B over tcp" \
    run_py auth_digest.py tcp "$SIP_HOST" "$PORT_B" "$PA" "$PB"

check "neither log holds a password" bash -c "! grep -q -e '$PA' -e '$PB' '$LOG_A' '$T_DIR/sipd.b.log'"
kill -TERM "$PID_B"
wait "$PID_B"
check "node B exits 0" test $? = 0
sipd_stop
finish
