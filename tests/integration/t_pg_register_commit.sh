#!/bin/bash
# t_pg_register_commit.sh - database.registrations_sync_commit (README "The database"): by
# default a registration's COMMIT does not wait for PostgreSQL's WAL flush; set to yes, it does.
# Seen from the database: 200 REGISTERs one after another (one transaction each) cost about 200
# WAL writes (pg_stat_wal.wal_write: a synchronous COMMIT writes, and with fsync on syncs, the WAL
# itself) with the setting on, and only the WAL writer's few without. A backend reports its
# statistics when it ends, so each count is read once sipd has stopped.
# pg_stat_wal counts the whole cluster, so run-all.sh runs this test in the slot where no other
# t_pg_* test runs beside it (PG_STOPPERS).
. "$(dirname "$0")/lib.sh"

pg_require
pg_new_db
wal_writes() { psql -XAtqc "SELECT wal_write FROM pg_stat_wal"; }

# register LABEL [SIPD ARGS]: a sipd registers 200 users, one REGISTER in flight at a time, and
# stops; WRITES = the WAL writes the database made meanwhile
register() {
    local label=$1 w0 w1
    shift
    w0=$(wal_writes)
    sipd_start --db "$SIPD_DB" "$@"
    sipp_ok "$label: 200 REGISTERs one after another, each 200 OK" "reg_$label" register_load.xml \
        udp -key user "c$label$$u" -m 200 -r 400 -rp 1000 -l 1
    sipd_stop
    sleep 0.5
    w1=$(wal_writes)
    WRITES=$((w1 - w0))
    log "$label: WAL writes while sipd registered 200 users: $WRITES"
}

register default
async=$WRITES
register sync --set database.registrations_sync_commit=yes
sync=$WRITES
check "registrations_sync_commit=yes: a WAL write per registration (150 or more for 200: $sync)" \
    test "$sync" -ge 150
check "default: the COMMITs did not write the WAL themselves (at most 50 writes: $async)" \
    test "$async" -le 50
check "the registrations made without the sync are stored all the same (rows in locations)" \
    test "$(psql -XAtqc "SELECT count(*) FROM locations WHERE aor LIKE 'sip:cdefault$$u%'")" -eq 200
finish
