#!/bin/bash
# run-all.sh - run the sipd integration tests (tests/integration/t_*.sh) in parallel and report
# TAP-like lines as tests finish, then the ten slowest and a summary:
#
#   ok - t_register_basic (4.1 s)
#   not ok - t_pg_outage (30.2 s)  (followed by the tail of that test's log, as '# ' lines)
#   ...
#   21 passed, 1 failed
#
# Every test runs in its own process group with its own random ports and private directory
# (lib.sh), so tests run side by side: SIPD_TEST_JOBS at once (default: twice the cores, at least
# 2; they mostly wait on the network and timers). The tests that stop or restart PostgreSQL
# (PG_STOPPERS below) run first, one after another in one slot, beside tests that use no
# PostgreSQL; the other t_pg_* tests start once they are done. One test bound by a takeover's
# timing (ALONE) runs by itself after all the others. The longest tests start first (SLOW_FIRST),
# so that the pool does not end waiting on one. Exit status 1 when any test failed.
#
# Environment:
#   top_builddir, top_srcdir  set by 'make check'; default: the repository holding this script.
#                             The daemon is $top_builddir/sipd/sipd.
#   SIPD_TEST_FILTER=regex    run only the tests whose name matches (grep -E), e.g. 'register|pg_'.
#   SIPD_TEST_JOBS=N          how many tests run at once.
#   SIPD_TEST_LOGDIR=dir      where per-test logs go (default $top_builddir/tests/integration/logs).
#   SIPD_TEST_KEEP=1          keep every test's temp dir (daemon log, SIPp traces), not just failures.
#   PGHOST (and PG*)          use that PostgreSQL for the t_pg_* tests. When unset, the whole run
#                             happens inside 'pg_virtualenv -t' (a throw-away cluster; PG_VIRTUALENV
#                             names another wrapper); each t_pg_* test creates its own database.
#                             Without either, the t_pg_* tests FAIL - they are never skipped.
#                             t_pg_outage/t_pg_restart_postgres stop and start the cluster, so they
#                             need pg_virtualenv's (PGVERSION, regress).
set -u

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$IT_DIR/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
TEST_TIMEOUT=${SIPD_TEST_TIMEOUT:-150}
PG_VIRTUALENV=${PG_VIRTUALENV:-pg_virtualenv}
# tests that stop, restart or otherwise disturb the shared PostgreSQL cluster, or (register_commit)
# count what the whole cluster does: one at a time, and no other t_pg_* test beside them
PG_STOPPERS='^t_pg_(outage|restart_postgres|cluster_pgdown|register_commit)$'
# t_pg_cluster_takeover: its takeover must finish within the 2 s a refresh waits for it (on a
# machine loaded by the whole suite it took longer in CI: 481), so it runs alone, last
ALONE='^t_pg_cluster_takeover$'
# the long tests, longest first (seconds in a CI run of 2026-12-03 in brackets): they start first
SLOW_FIRST=(t_pg_cluster_failover t_proxy_errors t_sipvicious   # [46-50]
    t_pg_presence_suite t_proxy_fork t_pg_presence_cluster t_auth # [27-29]
    t_pg_cluster_ops t_proxy_cancel t_pg_cluster_basic t_pg_cluster_ratelimit t_presence_policy # [17-25]
    t_sipctl t_proxy_noanswer t_proxy_record_route t_pg_register_suite t_pg_auth_cluster # [14-18]
    t_tls_sip t_pg_im_suite t_pg_webui t_presence_compose t_proxy_2xx_retrans t_pg_api_topics # [12-14]
    t_pg_presence_policy t_proxy_loss t_presence_expiry t_proxy_sequential)

ncpu=$(nproc 2>/dev/null || echo 2)
JOBS=${SIPD_TEST_JOBS:-$((ncpu * 2))}
[ "$JOBS" -lt 2 ] && JOBS=2

now_ms() { date +%s%3N; }

# run_one TEST RESULTS: run one test with a time bound; append "ok|fail NAME MS" to RESULTS.
run_one() {
    local t=$1 results=$2 name rc t0 t1
    name=$(basename "$t" .sh)
    t0=$(now_ms)
    timeout -k 10 "$TEST_TIMEOUT" bash "$t" >"$LOGDIR/$name.log" 2>&1 </dev/null
    rc=$?
    t1=$(now_ms)
    [ "$rc" -eq 124 ] && echo "# timed out after ${TEST_TIMEOUT}s" >>"$LOGDIR/$name.log"
    if [ "$rc" -eq 0 ]; then
        echo "ok $name $((t1 - t0))" >>"$results"
    else
        echo "fail $name $((t1 - t0))" >>"$results"
    fi
}

# report LINE: print one result line (and the log tail of a failure) as TAP.
report() {
    local status name ms
    read -r status name ms <<<"$1"
    local secs
    secs=$(awk -v m="$ms" 'BEGIN { printf "%.1f", m / 1000 }')
    if [ "$status" = ok ]; then
        echo "ok - $name ($secs s)"
    else
        echo "not ok - $name ($secs s)"
        if [ -f "$LOGDIR/$name.log" ]; then
            echo "# --- tail of $LOGDIR/$name.log ---"
            tail -n 40 "$LOGDIR/$name.log" | sed 's/^/# /'
        fi
    fi
}

# Inner mode: PostgreSQL is available (or known absent); run every test given, report, summarise.
inner() {
    local pg_ok=$1
    shift
    local results pool=() stoppers=() alone=() t name reported=0 running=0 lane= i
    results=$(mktemp)
    for t in "$@"; do
        name=$(basename "$t" .sh)
        if [[ $name =~ $PG_STOPPERS ]]; then stoppers+=("$t")
        elif [[ $name =~ $ALONE ]]; then alone+=("$t")
        else pool+=("$t"); fi
    done
    # print whatever finished since the last call
    flush() {
        local n
        n=$(wc -l <"$results")
        while [ "$reported" -lt "$n" ]; do
            reported=$((reported + 1))
            report "$(sed -n "${reported}p" "$results")"
        done
    }
    # a test that cannot run without PostgreSQL is a failure, never a skip
    no_pg() {
        echo "fail $1 0" >>"$results"
        echo "# did not run: $pg_ok" >"$LOGDIR/$1.log"
    }
    # the PostgreSQL stoppers, one after another, in one slot of the pool
    if [ "${#stoppers[@]}" -gt 0 ]; then
        if [ "$pg_ok" != yes ]; then
            for t in "${stoppers[@]}"; do no_pg "$(basename "$t" .sh)"; done
        else
            (for t in "${stoppers[@]}"; do run_one "$t" "$results"; done) &
            lane=$!
            running=1
        fi
    fi
    # the pool: while the lane runs, only tests that use no PostgreSQL may start
    while [ "${#pool[@]}" -gt 0 ]; do
        if [ -n "$lane" ] && ! kill -0 "$lane" 2>/dev/null; then
            lane=
        fi
        local pick=-1
        for i in "${!pool[@]}"; do
            name=$(basename "${pool[$i]}" .sh)
            if [[ $name != t_pg_* ]] || [ -z "$lane" ]; then pick=$i; break; fi
        done
        if [ "$pick" -lt 0 ] || [ "$running" -ge "$JOBS" ]; then
            wait -n
            running=$((running - 1))
            flush
            continue
        fi
        t=${pool[$pick]}
        pool=("${pool[@]:0:$pick}" "${pool[@]:$((pick + 1))}")
        name=$(basename "$t" .sh)
        if [[ $name == t_pg_* ]] && [ "$pg_ok" != yes ]; then
            no_pg "$name"
            continue
        fi
        run_one "$t" "$results" &
        running=$((running + 1))
    done
    wait
    flush
    for t in "${alone[@]}"; do
        name=$(basename "$t" .sh)
        if [ "$pg_ok" != yes ]; then
            no_pg "$name"
        else
            run_one "$t" "$results"
        fi
        flush
    done
    echo "# slowest tests:"
    sort -k3,3nr "$results" | head -n 10 |
        awk '{ printf "#   %6.1f s  %s\n", $3 / 1000, $2 }'
    local passed failed
    passed=$(grep -c '^ok ' "$results")
    failed=$(grep -c '^fail ' "$results")
    rm -f "$results"
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# Inner mode (inside pg_virtualenv): --inner LOGDIR PG_OK REPORT TEST...; the report goes to REPORT.
if [ "${1:-}" = --inner ]; then
    LOGDIR=$2 pg_ok=$3
    exec >"$4"
    shift 4
    inner "$pg_ok" "$@"
    exit $?
fi

LOGDIR=${SIPD_TEST_LOGDIR:-$top_builddir/tests/integration/logs}
if ! mkdir -p "$LOGDIR" 2>/dev/null || [ ! -w "$LOGDIR" ]; then
    LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/sipd-it-logs.XXXXXX")
fi
LOGDIR=$(cd "$LOGDIR" && pwd)
export SIPD_TEST_LOGDIR=$LOGDIR

first=() rest=() has_pg=
for t in "$IT_DIR"/t_*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    if [ -n "${SIPD_TEST_FILTER:-}" ] && ! printf '%s\n' "$name" | grep -Eq -- "$SIPD_TEST_FILTER"; then
        continue
    fi
    [[ $name == t_pg_* ]] && has_pg=1
    is_slow=
    for slow in "${SLOW_FIRST[@]}"; do [ "$name" = "$slow" ] && is_slow=1 && break; done
    [ -z "$is_slow" ] && rest+=("$t")
done
for slow in "${SLOW_FIRST[@]}"; do
    t=$IT_DIR/$slow.sh
    [ -e "$t" ] || continue
    if [ -n "${SIPD_TEST_FILTER:-}" ] && ! printf '%s\n' "$slow" | grep -Eq -- "$SIPD_TEST_FILTER"; then
        continue
    fi
    first+=("$t")
done
tests=("${first[@]}" "${rest[@]}")
[ "${#tests[@]}" -eq 0 ] && { echo "0 passed, 0 failed"; exit 0; }

echo "# sipd: $top_builddir/sipd/sipd   logs: $LOGDIR   jobs: $JOBS"
if [ -z "$has_pg" ]; then
    inner "no PostgreSQL tests selected" "${tests[@]}"
elif [ -n "${PGHOST:-}" ]; then
    echo "# PostgreSQL tests against PGHOST=$PGHOST"
    inner yes "${tests[@]}"
elif command -v "$PG_VIRTUALENV" >/dev/null 2>&1; then
    echo "# inside pg_virtualenv (its own log: $LOGDIR/pg_virtualenv.log)"
    report_file=$LOGDIR/report.txt
    PGPORT=$("$IT_DIR/../pg-port.sh") || exit 1
    export PGPORT
    : >"$report_file"
    timeout -k 10 $((TEST_TIMEOUT * ${#tests[@]} + 120)) \
        "$PG_VIRTUALENV" -t "$IT_DIR/run-all.sh" --inner "$LOGDIR" yes "$report_file" "${tests[@]}" \
        >"$LOGDIR/pg_virtualenv.log" 2>&1 </dev/null
    rc=$?
    cat "$report_file"
    if ! grep -qE '^[0-9]+ passed, [0-9]+ failed$' "$report_file"; then
        echo "# pg_virtualenv or the runner failed (exit $rc):"
        tail -n 30 "$LOGDIR/pg_virtualenv.log" | sed 's/^/# /'
        echo "0 passed, ${#tests[@]} failed"
        exit 1
    fi
    exit $rc
else
    inner "no PostgreSQL: PGHOST is unset and pg_virtualenv is not installed (apt-get install postgresql postgresql-common)" "${tests[@]}"
fi
