#!/bin/bash
# t_pg_proxy_480.sh - on the PostgreSQL store, like on the memory store (t_proxy_errors.sh), the
# proxy tells a known user without a live binding (480) from an unknown one (404): the lookup
# reports STORE_OFFLINE for an AOR whose bindings were removed (Expires 0) or expired, whether
# the sweep has deleted the rows yet or not (table location_gone, schema/003_location_gone.sql).
# A second sipd on the same database answers the same: what is known is in the database.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

pg_require
pg_new_db
sipd_start --db "$SIPD_DB" --roles registrar,proxy --set registrar.min_expires=1 \
    --set sip.t1_ms=100

px_call "404 over udp: INVITE to an unknown user" udp --to "$(new_user nobody)" \
    --expect 404 --expect-100 --name "404 INVITE/udp"

px_480_cases

sipd_stop

# another node (a fresh process) on the same database knows them too
sipd_start --db "$SIPD_DB" --roles registrar,proxy --set sip.t1_ms=100
px_call "480 from a restarted node: the removed user" udp --to "$PX_GONE" --expect 480 \
    --name "480 restarted/removed"
px_call "480 from a restarted node: the expired user" udp --to "$PX_EXPIRED" --expect 480 \
    --name "480 restarted/expired"
px_call "404 from a restarted node: an unknown user" udp --to "$(new_user nobody)" --expect 404 \
    --name "404 restarted"
sipd_stop
finish
