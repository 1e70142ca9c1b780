#!/bin/bash
# run-all.sh - run the sipd integration tests (tests/integration/t_*.sh) and report TAP-like lines:
#
#   ok - t_register_basic
#   not ok - t_pg_outage        (followed by the tail of that test's log, as '# ' lines)
#   ...
#   21 passed, 1 failed
#
# Exit status 1 when any test failed. Environment:
#   top_builddir, top_srcdir  set by 'make check'; default: the repository holding this script.
#                             The daemon is $top_builddir/sipd/sipd.
#   SIPD_TEST_FILTER=regex    run only the tests whose name matches (grep -E), e.g. 'register|pg_'.
#   SIPD_TEST_LOGDIR=dir      where per-test logs go (default $top_builddir/tests/integration/logs).
#   SIPD_TEST_KEEP=1          keep every test's temp dir (daemon log, SIPp traces), not just failures.
#   PGHOST (and PG*)          use that PostgreSQL for the t_pg_* tests. When unset, the t_pg_* tests
#                             run inside 'pg_virtualenv -t' (a throw-away cluster; PG_VIRTUALENV
#                             names another wrapper); when neither is available they FAIL - they
#                             are never skipped. t_pg_outage/t_pg_restart_postgres stop and start
#                             the cluster, so they need pg_virtualenv's (PGVERSION, regress).
set -u

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$IT_DIR/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
TEST_TIMEOUT=${SIPD_TEST_TIMEOUT:-150}
PG_VIRTUALENV=${PG_VIRTUALENV:-pg_virtualenv}

# one test: run it with a time bound, append "ok NAME" / "not ok NAME" to the results file
run_one() {
    local t=$1 results=$2 name rc
    name=$(basename "$t" .sh)
    timeout -k 10 "$TEST_TIMEOUT" bash "$t" >"$LOGDIR/$name.log" 2>&1 </dev/null
    rc=$?
    [ "$rc" -eq 124 ] && echo "# timed out after ${TEST_TIMEOUT}s" >>"$LOGDIR/$name.log"
    if [ "$rc" -eq 0 ]; then
        echo "ok $name" >>"$results"
    else
        echo "not ok $name" >>"$results"
    fi
}

report_one() {
    local status=$1 name=$2
    if [ "$status" = ok ]; then
        echo "ok - $name"
    else
        echo "not ok - $name"
        if [ -f "$LOGDIR/$name.log" ]; then
            echo "# --- tail of $LOGDIR/$name.log ---"
            tail -n 40 "$LOGDIR/$name.log" | sed 's/^/# /'
        fi
    fi
}

# Inner mode: we are inside pg_virtualenv; run the given pg tests, results into $2.
if [ "${1:-}" = --pg-inner ]; then
    LOGDIR=$2
    results=$3
    shift 3
    for t in "$@"; do
        run_one "$t" "$results"
    done
    exit 0
fi

LOGDIR=${SIPD_TEST_LOGDIR:-$top_builddir/tests/integration/logs}
if ! mkdir -p "$LOGDIR" 2>/dev/null || [ ! -w "$LOGDIR" ]; then
    LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/sipd-it-logs.XXXXXX")
fi
LOGDIR=$(cd "$LOGDIR" && pwd)
export SIPD_TEST_LOGDIR=$LOGDIR

plain=() pg=()
for t in "$IT_DIR"/t_*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    if [ -n "${SIPD_TEST_FILTER:-}" ] && ! printf '%s\n' "$name" | grep -Eq -- "$SIPD_TEST_FILTER"; then
        continue
    fi
    case $name in
        t_pg_*) pg+=("$t") ;;
        *) plain+=("$t") ;;
    esac
done

echo "# sipd: $top_builddir/sipd/sipd   logs: $LOGDIR"
passed=0 failed=0
tally() {
    local status=$1 name=$2
    report_one "$status" "$name"
    if [ "$status" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

for t in "${plain[@]}"; do
    results=$(mktemp)
    run_one "$t" "$results"
    read -r line <"$results"
    rm -f "$results"
    case $line in
        "ok "*) tally ok "${line#ok }" ;;
        *) tally "not ok" "${line#not ok }" ;;
    esac
done

if [ "${#pg[@]}" -gt 0 ]; then
    results=$(mktemp)
    pgnote=
    if [ -n "${PGHOST:-}" ]; then
        echo "# PostgreSQL tests against PGHOST=$PGHOST"
        for t in "${pg[@]}"; do run_one "$t" "$results"; done
    elif command -v "$PG_VIRTUALENV" >/dev/null 2>&1; then
        echo "# PostgreSQL tests inside pg_virtualenv (log: $LOGDIR/pg_virtualenv.log)"
        timeout -k 10 $((TEST_TIMEOUT * ${#pg[@]} + 60)) \
            "$PG_VIRTUALENV" -t "$IT_DIR/run-all.sh" --pg-inner "$LOGDIR" "$results" "${pg[@]}" \
            >"$LOGDIR/pg_virtualenv.log" 2>&1 </dev/null
        pgnote="see $LOGDIR/pg_virtualenv.log"
    else
        pgnote="no PostgreSQL: PGHOST is unset and pg_virtualenv is not installed (apt-get install postgresql postgresql-common)"
    fi
    for t in "${pg[@]}"; do
        name=$(basename "$t" .sh)
        if grep -qx "ok $name" "$results"; then
            tally ok "$name"
        elif grep -qx "not ok $name" "$results"; then
            tally "not ok" "$name"
        else
            echo "not ok - $name"
            echo "# did not run: $pgnote"
            [ -f "$LOGDIR/pg_virtualenv.log" ] && tail -n 20 "$LOGDIR/pg_virtualenv.log" | sed 's/^/# /'
            failed=$((failed + 1))
        fi
    done
    rm -f "$results"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
