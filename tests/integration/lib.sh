# lib.sh - shared helpers for the sipd integration tests. Source it from a t_*.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   sipd_start --set registrar.min_expires=1   # free port, pidfile, log; waits for an OPTIONS 200
#   sipp_ok "REGISTER over UDP gets 200" reg_udp register_basic.xml udp -key user "$(new_user a)"
#   check "retransmissions" run_py retransmit.py udp "$SIP_HOST" "$SIP_PORT"
#   sipd_stop                                  # SIGTERM by pid, asserts exit status 0
#   finish                                     # exit 1 if any check failed
#
# check/sipp_ok print "PASS: ..." or "FAIL: ..." and carry on, so one run shows every failure;
# bail stops the test. SIPp and the Python clients are always bounded in time.
#
# Every process a test starts is recorded and killed BY PID on exit (never pkill/killall).
# Each test gets its own directory ($T_DIR) holding the daemon's log, pidfile and SIPp traces;
# it is removed when the test passes and kept (its path printed) when it fails.
# shellcheck shell=bash

set -u

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$IT_DIR/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
SIPD=${SIPD:-$top_builddir/sipd/sipd}
SCEN=$IT_DIR/scenarios
PYTHON=${PYTHON:-python3}
export PYTHONDONTWRITEBYTECODE=1  # never write __pycache__ into the (maybe read-only) source tree
SIPCLIENT=$IT_DIR/sipclient.py
SIPP=${SIPP:-sipp}
DOMAIN=example.com

T_NAME=$(basename "$0" .sh)
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sipd-it-$T_NAME.XXXXXX")
T_FAILS=0
T_PIDS=()           # every background process this test started
T_PORTS=()          # ports handed out by pick_port in this test
SIPD_PID=
SIPD_LOG=
SIPD_PIDFILE=$T_DIR/sipd.pid
SIPD_RUNS=0         # how many daemons this test started (log file names)
SIP_HOST=127.0.0.1
SIP_PORT=
API_PORT=           # sipd_start's REST API port (docs/api.md); API_URL=http://127.0.0.1:$API_PORT
API_URL=
API_TOKEN=it-token-$RANDOM$RANDOM
PG_CREATED_DB=
PG_STOPPED=

log() { printf '# %s\n' "$*"; }

# check DESCRIPTION COMMAND...: run COMMAND, record PASS/FAIL, keep going.
check() {
    local what=$1
    shift
    if "$@"; then
        printf 'PASS: %s\n' "$what"
    else
        printf 'FAIL: %s\n' "$what"
        T_FAILS=$((T_FAILS + 1))
    fi
}

# fail MESSAGE: record a failure without a command.
fail() {
    printf 'FAIL: %s\n' "$*"
    T_FAILS=$((T_FAILS + 1))
}

# bail MESSAGE: a failure that makes the rest of the test meaningless.
bail() {
    fail "$*"
    exit 1
}

_cleanup() {
    local rc=$? pid
    for pid in "${T_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            log "cleanup: stopping leftover pid $pid"
            kill -TERM "$pid" 2>/dev/null
            for _ in $(seq 1 30); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
        fi
    done
    if [ -n "${PG_STOPPED:-}" ]; then
        log "cleanup: starting PostgreSQL again for the tests that follow"
        pg_ctlcluster "$PGVERSION" "${SIPD_TEST_PG_CLUSTER:-regress}" start
    fi
    if [ -n "${PG_CREATED_DB:-}" ]; then
        timeout 10 dropdb --if-exists "$PG_CREATED_DB" >/dev/null 2>&1
    fi
    if [ "$rc" -eq 0 ] && [ "$T_FAILS" -eq 0 ] && [ -z "${SIPD_TEST_KEEP:-}" ]; then
        rm -rf "$T_DIR"
    else
        log "test files kept in $T_DIR"
        if [ -n "$SIPD_LOG" ] && [ -f "$SIPD_LOG" ]; then
            log "last lines of $SIPD_LOG:"
            tail -n 25 "$SIPD_LOG" | sed 's/^/#   /'
        fi
    fi
    [ "$rc" -eq 0 ] && [ "$T_FAILS" -gt 0 ] && rc=1
    exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

# finish: end the test; exit status 1 when any check failed.
finish() {
    if [ "$T_FAILS" -gt 0 ]; then
        log "$T_NAME: $T_FAILS check(s) failed"
        exit 1
    fi
    log "$T_NAME: all checks passed"
    exit 0
}

# track_pid PID: make the cleanup trap responsible for PID.
track_pid() { T_PIDS+=("$1"); }

_port_in_use() {
    # any listening or bound UDP/TCP socket on that port, on any address
    [ -n "$(ss -Hantu "( sport = :$1 )" 2>/dev/null)" ]
}

# pick_port: print a port in 20000..40000 free for both UDP and TCP, not handed out before here.
pick_port() {
    local p u used
    for _ in $(seq 1 200); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 20001))
        used=
        for u in "${T_PORTS[@]}"; do [ "$u" = "$p" ] && used=1; done
        [ -n "$used" ] && continue
        _port_in_use "$p" && continue
        T_PORTS+=("$p")
        echo "$p"
        return 0
    done
    echo "pick_port: no free port found" >&2
    return 1
}

# sip_ping TRANSPORT HOST PORT [TIMEOUT_S]: OPTIONS -> 200?
sip_ping() { "$PYTHON" "$SIPCLIENT" ping "$@"; }

# shellcheck disable=SC2120 # arguments are optional
# sipd_start [ARGS...]: start sipd in the background, listening on udp+tcp 127.0.0.1:$SIP_PORT
# (a fresh port unless SIP_PORT is already set, so a restart reuses it), with a pidfile and a log
# in $T_DIR; wait until it answers OPTIONS. Extra ARGS are appended (e.g. --set k=v, --db ...).
# Set SIPD_LISTEN to override --listen, SIPD_PING="udp HOST PORT" to override the readiness ping.
# The REST API listens on 127.0.0.1:$API_PORT (kept across restarts that keep SIP_PORT) with
# token $API_TOKEN.
sipd_start() {
    [ -x "$SIPD" ] || bail "sipd binary not found at $SIPD (set top_builddir)"
    if [ -z "$SIP_PORT" ]; then # a new daemon (a test may run several): new ports for both
        SIP_PORT=$(pick_port) || bail "no free port"
        API_PORT=$(pick_port) || bail "no free port"
    fi
    [ -n "$API_PORT" ] || API_PORT=$(pick_port) || bail "no free port"
    API_URL=http://$SIP_HOST:$API_PORT
    local listen=${SIPD_LISTEN:-udp:$SIP_HOST:$SIP_PORT,tcp:$SIP_HOST:$SIP_PORT}
    SIPD_RUNS=$((SIPD_RUNS + 1))
    SIPD_LOG=$T_DIR/sipd.$SIPD_RUNS.log
    rm -f "$SIPD_PIDFILE"
    log "starting: $SIPD --foreground --listen $listen --domain $DOMAIN --log-level debug --pidfile $SIPD_PIDFILE --api $SIP_HOST:$API_PORT $*"
    "$SIPD" --foreground --listen "$listen" --domain "$DOMAIN" --log-level debug \
        --pidfile "$SIPD_PIDFILE" --api "$SIP_HOST:$API_PORT" --set "api.token=$API_TOKEN" \
        "$@" >"$SIPD_LOG" 2>&1 &
    SIPD_PID=$!
    track_pid "$SIPD_PID"
    # shellcheck disable=SC2086 # SIPD_PING is a word list on purpose
    sipd_wait_ready ${SIPD_PING:-udp $SIP_HOST $SIP_PORT} || bail "sipd did not become ready (log: $SIPD_LOG)"
}

# sipd_wait_ready TRANSPORT HOST PORT [TIMEOUT_S]: pidfile holds our pid AND OPTIONS gets 200.
sipd_wait_ready() {
    local transport=$1 host=$2 port=$3 timeout=${4:-10} start now
    start=$(date +%s)
    while :; do
        if ! kill -0 "$SIPD_PID" 2>/dev/null; then
            wait "$SIPD_PID"
            log "sipd exited early with status $? ; log follows"
            sed 's/^/#   /' "$SIPD_LOG" | tail -n 30
            return 1
        fi
        if [ -s "$SIPD_PIDFILE" ] && sip_ping "$transport" "$host" "$port" 0.3; then
            if [ "$(cat "$SIPD_PIDFILE")" != "$SIPD_PID" ]; then
                fail "pidfile $SIPD_PIDFILE holds '$(cat "$SIPD_PIDFILE")', expected $SIPD_PID"
            fi
            log "sipd ready (pid $SIPD_PID, $transport $host:$port)"
            return 0
        fi
        now=$(date +%s)
        if [ $((now - start)) -ge "$timeout" ]; then
            log "sipd not ready after ${timeout}s"
            return 1
        fi
        sleep 0.1
    done
}

# sipd_stop: SIGTERM by pid, wait (10 s at most), assert a clean exit (status 0).
sipd_stop() {
    local status
    [ -n "$SIPD_PID" ] || return 0
    kill -TERM "$SIPD_PID" 2>/dev/null
    for _ in $(seq 1 100); do
        kill -0 "$SIPD_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SIPD_PID" 2>/dev/null; then
        fail "sipd (pid $SIPD_PID) still running 10 s after SIGTERM; killing it"
        kill -KILL "$SIPD_PID" 2>/dev/null
    fi
    wait "$SIPD_PID"
    status=$?
    check "sipd exits with status 0 after SIGTERM (got $status)" test "$status" -eq 0
    SIPD_PID=
    return 0
}

# run_sipp NAME SCENARIO TRANSPORT [SIPP ARGS...]: run one SIPp client against the daemon,
# bounded in time; traces go to $T_DIR/NAME.*. Returns SIPp's exit status (0 = every call OK).
# TRANSPORT is udp or tcp. Target is $SIP_HOST:$SIP_PORT unless SIPP_TARGET is set;
# local address is $SIP_HOST unless SIPP_LOCAL is set. Default -m 1 unless given in ARGS.
run_sipp() {
    local name=$1 scen=$2 transport=$3 tflag lport target local_ip rc m_given='' a
    shift 3
    case $transport in
        udp) tflag=u1 ;;
        tcp) tflag=t1 ;;
        *) bail "run_sipp: bad transport $transport" ;;
    esac
    for a in "$@"; do [ "$a" = "-m" ] && m_given=1; done
    lport=$(pick_port) || bail "no free port"
    local_ip=${SIPP_LOCAL:-$SIP_HOST}
    if [ -n "${SIPP_TARGET:-}" ]; then
        target=$SIPP_TARGET
    else
        target=$SIP_HOST:$SIP_PORT
    fi
    local -a cmd=("$SIPP" -sf "$SCEN/$scen" -t "$tflag" -i "$local_ip" -p "$lport" -nostdin
        -timeout "${SIPP_TIMEOUT:-30}s" -timeout_error -recv_timeout 5000 -max_retrans 5
        -trace_err -error_file "$T_DIR/$name.errors.log"
        -trace_msg -message_file "$T_DIR/$name.messages.log"
        -trace_screen -screen_file "$T_DIR/$name.screen.log"
        -trace_logs -log_file "$T_DIR/$name.actions.log"
        -key domain "$DOMAIN")
    [ -n "$m_given" ] || cmd+=(-m 1)
    cmd+=("$@" "$target")
    log "sipp: ${cmd[*]}"
    timeout -k 5 "$(( ${SIPP_TIMEOUT:-30} + 15 ))" "${cmd[@]}" >"$T_DIR/$name.out" 2>&1 </dev/null
    rc=$?
    if [ "$rc" -ne 0 ]; then
        log "sipp $name ($scen over $transport) exited with $rc"
        _sipp_report "$name"
    fi
    return "$rc"
}

# Show why a SIPp run failed: its stderr/stdout tail and the unexpected messages.
_sipp_report() {
    local name=$1 f
    for f in "$T_DIR/$name.out" "$T_DIR/$name.errors.log" "$T_DIR/$name.actions.log"; do
        [ -s "$f" ] || continue
        log "--- $(basename "$f") (tail) ---"
        grep -v '^\s*$' "$f" | tail -n 40 | sed 's/^/#   /'
    done
    if [ -s "$T_DIR/$name.messages.log" ]; then
        log "--- $(basename "$T_DIR/$name.messages.log") (tail) ---"
        tail -n 60 "$T_DIR/$name.messages.log" | sed 's/^/#   /'
    fi
}

# sipp_ok DESCRIPTION NAME SCENARIO TRANSPORT [ARGS...]: run_sipp and record PASS/FAIL.
sipp_ok() {
    local what=$1
    shift
    check "$what" run_sipp "$@"
}

# run_py SCRIPT [ARGS...]: run a Python scenario from py/ (bounded to 60 s).
run_py() {
    local script=$1
    shift
    timeout -k 5 "${PY_TIMEOUT:-60}" "$PYTHON" "$IT_DIR/py/$script" "$@"
}

# new_user PREFIX: a user name unique to this run and call (tests may share a database). The pid
# of the $(...) subshell differs per call; RANDOM alone once gave two calls the same name.
new_user() { printf '%s%s%s%04d' "$1" "$$" "$BASHPID" $((RANDOM % 10000)); }

# ---- PostgreSQL ------------------------------------------------------------------------------

# pg_require: the PG* environment must point at a server (run-all.sh provides one through
# pg_virtualenv). A missing server is a failure, never a skip.
pg_require() {
    command -v psql >/dev/null || bail "psql not installed"
    [ -n "${PGHOST:-}" ] || bail "no PostgreSQL: PGHOST unset (run through run-all.sh, which uses pg_virtualenv)"
    psql -XtAc 'select 1' >/dev/null 2>&1 || bail "cannot connect to PostgreSQL (PGHOST=$PGHOST PGPORT=${PGPORT:-})"
}

# pg_new_db: create a database for this test, export PGDATABASE to it, apply the schema with
# sipd --init-db. Sets SIPD_DB to the conninfo to pass with --db.
pg_new_db() {
    local db
    db=sipd_it_$(printf '%s' "$T_NAME" | tr -c 'a-z0-9_' '_')_$$
    if createdb "$db" 2>"$T_DIR/createdb.err"; then
        export PGDATABASE=$db
        PG_CREATED_DB=$db
    else
        log "createdb $db failed ($(cat "$T_DIR/createdb.err")); using PGDATABASE=${PGDATABASE:-}"
    fi
    SIPD_DB=postgresql://
    local out rc
    out=$(timeout 30 "$SIPD" --db "$SIPD_DB" --init-db --schema-dir "$top_srcdir/schema" 2>&1)
    rc=$?
    [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/#   init-db: /'
    check "sipd --init-db exits 0 (got $rc)" test "$rc" -eq 0
    [ "$rc" -eq 0 ] || bail "schema not applied; cannot continue"
}

# pg_cluster_ctl ACTION: start/stop/restart the pg_virtualenv cluster ($PGVERSION/regress).
pg_cluster_ctl() {
    if [ -z "${PGVERSION:-}" ] || [ -z "${PG_CLUSTER_CONF_ROOT:-}" ]; then
        bail "cannot $1 PostgreSQL: not a pg_virtualenv cluster (PGVERSION/PG_CLUSTER_CONF_ROOT unset)"
    fi
    local cluster=${SIPD_TEST_PG_CLUSTER:-regress}
    log "pg_ctlcluster $PGVERSION $cluster $1"
    case $1 in
        stop) PG_STOPPED=1; pg_ctlcluster --mode fast "$PGVERSION" "$cluster" stop ;;
        start) pg_ctlcluster "$PGVERSION" "$cluster" start && PG_STOPPED= ;;
        # a restart right after another test's start once found the cluster "already running"
        # (pg_ctlcluster took it for stopped while it was still starting): try once more
        restart) pg_ctlcluster --mode fast "$PGVERSION" "$cluster" restart ||
            { sleep 1; pg_ctlcluster --mode fast "$PGVERSION" "$cluster" restart; } ;;
        *) pg_ctlcluster "$PGVERSION" "$cluster" "$1" ;;
    esac
}
