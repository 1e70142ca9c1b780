#!/bin/bash
# pg-port.sh: print a random TCP port in 41000..48999 that nothing listens on, for a throw-away
# pg_virtualenv cluster (PGPORT=$(tests/pg-port.sh) pg_virtualenv ...). pg_virtualenv alone
# takes the first free port from 5432 up, so two started at once (unit and integration runners
# side by side) can pick the same one and fail with "Port conflict".
for _ in $(seq 1 100); do
    p=$((41000 + RANDOM % 8000))
    if [ -z "$(ss -Hant "( sport = :$p )" 2>/dev/null)" ] && [ ! -e "/var/run/postgresql/.s.PGSQL.$p" ]; then
        echo "$p"
        exit 0
    fi
done
echo "pg-port.sh: no free port" >&2
exit 1
