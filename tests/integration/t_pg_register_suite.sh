#!/bin/bash
# t_pg_register_suite.sh - the whole registrar suite (register_cases.sh) with the PostgreSQL
# store (--db), UDP and TCP; then expiry on a daemon with registrar.min_expires=1.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

pg_require
pg_new_db
out=$(timeout 30 "$SIPD" --db "$SIPD_DB" --init-db --schema-dir "$top_srcdir/schema" 2>&1)
rc=$?
check "sipd --init-db a second time (idempotent) exits 0 (got $rc: $out)" test "$rc" -eq 0
# without --schema-dir, from another directory: an uninstalled build finds the source tree's schema/
out=$(cd "$T_DIR" && env -u SIPD_SCHEMA_DIR timeout 30 "$SIPD" --db "$SIPD_DB" --init-db 2>&1)
rc=$?
check "sipd --init-db without --schema-dir exits 0 (got $rc: $out)" test "$rc" -eq 0
sipd_start --db "$SIPD_DB"
case_register_all_default
sipd_stop

sipd_start --db "$SIPD_DB" --set registrar.min_expires=1
case_register_expiry
sipd_stop
finish
