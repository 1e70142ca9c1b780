#!/bin/bash
# t_pg_presence_suite.sh - the presence scenarios of the memory-store tests on PostgreSQL
# (publications in table presentities, sipd/store/pg/): the basic PUBLISH/SUBSCRIBE flow with
# entity-tags and 412, rejections, expiry of publications and subscriptions, composition of two
# publishers, fetch and 481; UDP and TCP. Client: py/presence_flow.py; the table of scenarios is
# presence_cases.sh.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/presence_cases.sh"

pg_require
pg_new_db
sipd_start --db "$SIPD_DB" "${PRESENCE_FLAGS[@]}"
presence_cases "postgres: presence " "${PRESENCE_DEFAULT_CASES[@]}"
sipd_stop
finish
