#!/bin/bash
# Run the CUnit unit tests. The store suite runs against both backends: memory always, and
# PostgreSQL when PGHOST is set — so without PGHOST, and with pg_virtualenv available
# (postgresql-common), this runs the tests inside a throwaway PostgreSQL cluster.
set -u
bin="${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/unit/unit_tests"
export top_srcdir="${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}"
if [ -z "${PGHOST:-}" ] && [ -z "${SIPD_UNIT_NO_PG:-}" ] && command -v pg_virtualenv >/dev/null; then
    PGPORT=$("$(dirname "$0")/../pg-port.sh") || exit 1
    export PGPORT
    exec pg_virtualenv -t bash -c 'exec "$0"' "$bin"
fi
exec "$bin"
