#!/bin/bash
# tests/package/run.sh - the Debian packages, end to end, on this machine (root; CI runs it from
# .ci/run after the other suites). Bounded: two package builds (~20 s each) and two short runs.
#
#  1. build sipd_*.deb and sipctl_*.deb (packaging/deb/build.sh: lintian without errors);
#  2. apt-get install -y ./sipd_*.deb ./sipctl_*.deb: user sipd, /var/lib/sipd, the conffile,
#     the API token (0640 root:sipd), the units;
#  3. start the installed sipd the way sipd.service does (no systemd in CI): its ExecStart= as
#     its User=/Group= with its AmbientCapabilities= (setpriv), NOTIFY_SOCKET and WATCHDOG_USEC;
#     it binds 5060 without root and says READY=1; register a SIPp user, call it through sipd;
#     sipctl nodes and a write with the token it finds by itself (root, a member of group sipd;
#     refused to others); curl /readyz; ExecReload= (SIGHUP) is logged;
#  4. upgrade, on PostgreSQL (pg_virtualenv -t): edit the conffile (a database, an edit marker),
#     sipd --init-db, a registration and a topic; build the same tree as a higher version with one
#     more schema migration; install it: the edited conffile stays, the migration applies in
#     postinst, sipd comes back with the registration and the topic;
#  5. purge both: nothing the packages created is left (files, directories; the system user
#     aside, as Debian policy allows).
# Prints PASS/FAIL lines and ends with "N passed, M failed"; exit status 1 on any failure.
# Uses SIP port 5060 and API port 5080 on 127.0.0.1 (the packaged configuration), which must be free.
#   SIPD_PKG_DIR=DIR   use the packages in DIR/v1 and DIR/v2 instead of building (debugging)
#   SIPD_PKG_KEEP=1    keep the work directory
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
SCEN=$top/tests/integration/scenarios
PY=$top/tests/integration/py

if [ -z "${PG_VIRTUALENV_INSIDE:-}" ]; then
    # the whole test runs inside a throw-away PostgreSQL cluster (step 4)
    export PG_VIRTUALENV_INSIDE=1
    exec timeout -k 10 600 pg_virtualenv -t "$0" "$@"
fi

PASSED=0; FAILED=0
pass() { printf 'PASS: %s\n' "$1"; PASSED=$((PASSED + 1)); }
fail() { printf 'FAIL: %s\n' "$1"; FAILED=$((FAILED + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
log() { printf '# %s\n' "$*"; }
summary() { echo "$PASSED passed, $FAILED failed"; }
bail() { fail "$*"; summary; exit 1; }

[ "$(id -u)" -eq 0 ] || bail "tests/package/run.sh installs packages: run it as root"
if dpkg-query -W -f='${Status}' sipd 2>/dev/null | grep -q installed ||
    dpkg-query -W -f='${Status}' sipctl 2>/dev/null | grep -q installed; then
    bail "sipd or sipctl is installed already: this test would purge it; remove it first"
fi
port_busy() { [ -n "$(ss -Hantu "( sport = :5060 or sport = :5080 )" 2>/dev/null)" ]; }
for _ in $(seq 1 60); do port_busy || break; sleep 1; done # another test may still hold them
port_busy && bail "port 5060 or 5080 is in use: $(ss -Hantup '( sport = :5060 or sport = :5080 )' | head -2)"
for tool in sipp curl setpriv psql; do
    command -v $tool >/dev/null || bail "$tool is missing (packaging/install-deps.sh)"
done

W=$(mktemp -d /tmp/sipd-pkgtest.XXXXXX)
chmod 755 "$W"
SIPD_PID=""
NOTIFY_PID=""
export DEBIAN_FRONTEND=noninteractive
cleanup() {
    for pid in $SIPD_PID $NOTIFY_PID; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null; sleep 1; kill -KILL "$pid" 2>/dev/null
        fi
    done
    # never leave the packages behind, even when a step failed
    if dpkg-query -W -f='${Status}' sipd sipctl 2>/dev/null | grep -q installed; then
        apt-get purge -y -q sipd sipctl >/dev/null 2>&1
    fi
    if [ -n "${SIPD_PKG_KEEP:-}" ] || [ "$FAILED" -gt 0 ]; then log "work files kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

# ---- 1. build -------------------------------------------------------------------------------
if [ -n "${SIPD_PKG_DIR:-}" ]; then
    V1=$SIPD_PKG_DIR/v1; V2=$SIPD_PKG_DIR/v2
else
    V1=$W/v1; V2=$W/v2
    if "$top/packaging/deb/build.sh" "$V1" >"$W/build-v1.log" 2>&1; then
        pass "build: sipd and sipctl packages, lintian without errors"
        grep -E '^  [WEI]: ' "$W/build-v1.log" | sed 's/^/# lintian:/'
    else
        sed 's/^/#   /' "$W/build-v1.log" | tail -40
        bail "build: packaging/deb/build.sh failed"
    fi
    # the same tree as a higher version, with one more schema migration (step 4)
    mkdir -p "$W/tree2"
    (cd "$top" && git ls-files -z --cached --others --exclude-standard |
        xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
        xargs -0 cp -a --parents -t "$W/tree2")
    cat >"$W/tree2/schema/900_package_upgrade_test.sql" <<'EOSQL'
-- only in the package test's upgrade build: a pending migration the upgrade must apply
CREATE TABLE package_upgrade_probe (applied_at timestamptz NOT NULL DEFAULT now());
EOSQL
    sed -i 's|^\(dist_schema_DATA = .*\)\\$|\1schema/900_package_upgrade_test.sql \\|' "$W/tree2/Makefile.am"
    git -C "$W/tree2" init -q 2>/dev/null; git -C "$W/tree2" add -A 2>/dev/null
    if "$top/packaging/deb/build.sh" --src "$W/tree2" --version 0.1.0+pkgtest1 "$V2" >"$W/build-v2.log" 2>&1; then
        pass "build: the same tree as version 0.1.0+pkgtest1 with a new migration"
    else
        sed 's/^/#   /' "$W/build-v2.log" | tail -40
        bail "build of the upgrade packages failed"
    fi
fi
deb_version() { dpkg-deb -f "$(ls "$1"/sipd_*.deb)" Version; }
VER1=$(deb_version "$V1"); VER2=$(deb_version "$V2")
log "packages: $VER1 and $VER2"

# what exists before: after the purge nothing new may be left (system user aside)
SNAP_DIRS="/etc /usr /lib /opt /srv /var/lib /var/spool /var/opt"
snapshot() {
    find $SNAP_DIRS -xdev 2>/dev/null |
        grep -Ev '^/var/lib/(apt|dpkg|ucf|systemd/deb-systemd-helper-masked$|postgresql)(/|$)|^/etc/(ld\.so\.cache|passwd|group|shadow|gshadow|subuid|subgid)-?$' | sort
}
snapshot >"$W/before.txt"

# ---- 2. install -----------------------------------------------------------------------------
install_debs() { (cd "$1" && apt-get install -y -q ./sipd_*.deb ./sipctl_*.deb) >"$W/$2.log" 2>&1; }
check "install: apt-get install -y ./sipd_*.deb ./sipctl_*.deb ($VER1)" install_debs "$V1" install-v1
check "install: sipd --version matches the package version" \
    test "$(/usr/sbin/sipd --version)" = "sipd $VER1"
check "install: system user and group sipd" bash -c 'getent passwd sipd >/dev/null && getent group sipd >/dev/null'
check "install: /var/lib/sipd owned by sipd, mode 750" \
    test "$(stat -c '%U:%G %a' /var/lib/sipd 2>/dev/null)" = "sipd:sipd 750"
check "install: /etc/sipd/api-token mode 640 root:sipd, 64 hex digits" bash -c \
    '[ "$(stat -c "%U:%G %a" /etc/sipd/api-token)" = "root:sipd 640" ] && grep -Eqx "[0-9a-f]{64}" /etc/sipd/api-token'
check "install: /etc/sipd/sipd.conf is a conffile" bash -c \
    'dpkg-query -W -f="\${Conffiles}" sipd | grep -q "/etc/sipd/sipd.conf "'
check "install: the conf points api.token_file at the token and the API at loopback" bash -c \
    'grep -qx "token_file = /etc/sipd/api-token" /etc/sipd/sipd.conf && grep -qx "listen = 127.0.0.1:5080" /etc/sipd/sipd.conf'
check "install: sipd.service and sipd@.service" test -f /lib/systemd/system/sipd.service -a -f /lib/systemd/system/sipd@.service
check "install: sipctl(1), sipd(8), sipd.conf(5)" bash -c \
    'ls /usr/share/man/man1/sipctl.1.gz /usr/share/man/man8/sipd.8.gz /usr/share/man/man5/sipd.conf.5.gz >/dev/null'

# ---- 3. run it the way the unit does ---------------------------------------------------------
UNIT=/lib/systemd/system/sipd.service
unit_key() { sed -n "s/^$1=//p" "$UNIT" | head -n 1; }
EXEC_START=$(unit_key ExecStart)
EXEC_RELOAD=$(unit_key ExecReload)
UNIT_USER=$(unit_key User); UNIT_GROUP=$(unit_key Group)
WATCHDOG_S=$(unit_key WatchdogSec | tr -d s)
check "unit: Type=notify, User=sipd, AmbientCapabilities=CAP_NET_BIND_SERVICE" bash -c \
    "[ '$(unit_key Type)' = notify ] && [ '$UNIT_USER' = sipd ] && [ '$(unit_key AmbientCapabilities)' = CAP_NET_BIND_SERVICE ]"
# systemd-analyze (package systemd) rates a unit file offline; installed for the tool only
command -v systemd-analyze >/dev/null ||
    apt-get install -y -q --no-install-recommends systemd >"$W/systemd-install.log" 2>&1
for unit in "$UNIT" /lib/systemd/system/sipd@.service; do
    name=$(basename "$unit" | sed 's/@/@i/')
    exposure=$(systemd-analyze security --offline=true "$unit" 2>/dev/null |
        sed -n "s/.*Overall exposure level for $name: \([0-9.]*\).*/\1/p")
    check "unit: systemd-analyze security rates $(basename "$unit") at most 3.0 (got ${exposure:-none})" \
        awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 3.0) }'
done

SIPD_LOG=$W/sipd.log
start_sipd() { # the unit's ExecStart as its User, with its capabilities, a notify socket and watchdog
    local notes=$W/notify.$1.txt
    rm -f "$W/notify.sock"
    python3 "$PY/notify_socket.py" "$W/notify.sock" "$notes" 120 &
    NOTIFY_PID=$!
    for _ in $(seq 1 50); do [ -S "$W/notify.sock" ] && break; sleep 0.1; done
    chmod 666 "$W/notify.sock"
    # shellcheck disable=SC2086 # ExecStart is a word list
    NOTIFY_SOCKET=$W/notify.sock WATCHDOG_USEC=$((WATCHDOG_S * 1000000)) \
        setpriv --reuid="$UNIT_USER" --regid="$UNIT_GROUP" --init-groups \
        --inh-caps=+net_bind_service --ambient-caps=+net_bind_service -- $EXEC_START >>"$SIPD_LOG" 2>&1 &
    SIPD_PID=$!
    for _ in $(seq 1 100); do
        grep -q '^READY=1' "$notes" 2>/dev/null && return 0
        kill -0 "$SIPD_PID" 2>/dev/null || break
        sleep 0.1
    done
    sed 's/^/#   /' "$SIPD_LOG" | tail -20
    return 1
}
stop_sipd() {
    kill -TERM "$SIPD_PID"
    local rc
    wait "$SIPD_PID"; rc=$?
    SIPD_PID=""
    kill "$NOTIFY_PID" 2>/dev/null; wait "$NOTIFY_PID" 2>/dev/null; NOTIFY_PID=""
    return $rc
}
# this operator's phones (SIPp 3.6) read only the first challenge and know only MD5 (docs/auth.md)
check "auth is on in the packaged conf" grep -qx "enabled = yes" /etc/sipd/sipd.conf
sed -i 's/^algorithms = .*/algorithms = MD5/' /etc/sipd/sipd.conf
check "run: the unit's ExecStart as user sipd binds 5060 and tells systemd READY=1" start_sipd 1
check "run: sipd runs as user sipd" test "$(ps -o user= -p "$SIPD_PID" 2>/dev/null)" = sipd
check "run: listening on UDP 127.0.0.1:5060" bash -c '[ -n "$(ss -Hanu "( sport = :5060 )")" ]'
readyz() { [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:5080/readyz)" = 200 ]; }
check "run: curl /readyz is 200" readyz

sipp_run() { # NAME SIPP-ARGS...: bounded, traces in $W
    # (-auth_uri, SIPp adds "sip:": the credentials' uri must be the Request-URI, docs/auth.md; SIPp would write sip:HOST:PORT)
    local name=$1; shift
    timeout -k 5 40 sipp -nostdin -timeout 30s -timeout_error -max_retrans 5 -trace_err \
        -error_file "$W/$name.err" "$@" >"$W/$name.out" 2>&1 </dev/null
}
UA_PORT=$((20000 + RANDOM % 10000))
# authentication is on in the packaged conf: users come from `sipctl user add` (root finds the
# token by itself); SIPp registers and calls with digest credentials
. "$top/tests/integration/auth_lib.sh" # auth_scenario: the auth templates filled in
T_DIR=$W
PW_BOB=pw-bob-$RANDOM$RANDOM PW_ALICE=pw-alice-$RANDOM$RANDOM
check "auth: sipctl user add bob and alice (as root, no --token)" bash -c \
    'sipctl user add bob@127.0.0.1 --password "$0" >/dev/null && sipctl user add alice@127.0.0.1 --password "$1" >/dev/null' \
    "$PW_BOB" "$PW_ALICE"
check "auth: sipctl user list shows both, no password or hash" bash -c \
    'out=$(sipctl user list) && grep -q bob <<<"$out" && grep -q alice <<<"$out" && ! grep -q -e "$0" -e "$1" <<<"$out"' \
    "$PW_BOB" "$PW_ALICE"
reg=(METHOD=REGISTER "RURI=sip:127.0.0.1" HEADER1="Expires: 300" BODY= FROM=bob TO=bob USER=bob CHALLENGE=401)
auth_scenario reg_bob_wrong auth_request.xml "${reg[@]}" "PASSWORD=$PW_BOB-wrong" FINAL=401
check "SIPp: bob's REGISTER with a wrong password is challenged again (401)" sipp_run reg_bob_wrong \
    127.0.0.1:5060 -sf "$W/reg_bob_wrong.xml" -key domain 127.0.0.1 -i 127.0.0.1 -p "$UA_PORT" -m 1 -auth_uri 127.0.0.1
auth_scenario reg_bob auth_request.xml "${reg[@]}" "PASSWORD=$PW_BOB" FINAL=200
check "SIPp: bob registers with digest credentials (401, then 200)" sipp_run reg_bob 127.0.0.1:5060 \
    -sf "$W/reg_bob.xml" -key domain 127.0.0.1 -i 127.0.0.1 -p "$UA_PORT" -m 1 -auth_uri 127.0.0.1
sipp_run uas_bob -sn uas -i 127.0.0.1 -p "$UA_PORT" -m 1 &
UAS=$!
sleep 0.5
check "SIPp: alice calls bob with digest credentials (INVITE, 407, INVITE, 200, ACK, BYE)" \
    sipp_run call 127.0.0.1:5060 -sf "$SCEN/auth_call.xml" -s bob -key domain 127.0.0.1 \
    -key caller alice -au alice -ap "$PW_ALICE" -auth_uri bob@127.0.0.1 -i 127.0.0.1 -p $((UA_PORT + 1)) -m 1
wait "$UAS"
check "SIPp: bob's phone answered the call" test $? -eq 0

check "sipctl nodes (as root)" bash -c 'sipctl nodes >"$0/nodes.out" 2>&1' "$W"
check "sipctl as root finds the token by itself: topic create" \
    bash -c 'sipctl topic create sip:pkgteam@127.0.0.1 --member sip:bob@127.0.0.1 >/dev/null'
SIPD_GID=$(getent group sipd | cut -d: -f3)
check "sipctl as a member of group sipd finds the token: topic add" bash -c \
    'setpriv --reuid=nobody --regid=nogroup --groups="$0" -- sipctl topic add sip:pkgteam@127.0.0.1 sip:alice@127.0.0.1 >/dev/null' "$SIPD_GID"
check "sipctl as another user has no token: the write is refused" bash -c \
    '! setpriv --reuid=nobody --regid=nogroup --clear-groups -- sipctl topic add sip:pkgteam@127.0.0.1 sip:eve@127.0.0.1 >/dev/null 2>&1'
check "the unit's ExecReload (SIGHUP) re-reads the conffile" bash -c \
    "${EXEC_RELOAD//\$MAINPID/$SIPD_PID} && sleep 0.5 && grep -q 'reload: configuration /etc/sipd/sipd.conf re-read' '$SIPD_LOG'"
check "run: SIGTERM stops sipd with status 0" stop_sipd

# ---- 4. upgrade on PostgreSQL ----------------------------------------------------------------
CONNINFO="host=${PGHOST:-localhost} port=${PGPORT:-5432} user=$PGUSER password=$PGPASSWORD dbname=${PGDATABASE:-postgres}"
# the operator's edits: a database, a marker comment
sed -i "s|^conninfo =.*|conninfo = $CONNINFO|" /etc/sipd/sipd.conf
echo "# edited by the package test" >>/etc/sipd/sipd.conf
check "upgrade: sipd --init-db on the edited conf (as user sipd)" bash -c \
    'runuser -u sipd -- sipd --config /etc/sipd/sipd.conf --init-db >/dev/null'
: >"$SIPD_LOG"
check "upgrade: $VER1 runs on PostgreSQL" start_sipd 2
PW_CAROL=pw-carol-$RANDOM$RANDOM
check "upgrade: carol added to the database (sipctl user add)" bash -c \
    'sipctl user add carol@127.0.0.1 --password "$0" >/dev/null' "$PW_CAROL"
auth_scenario reg_carol auth_request.xml METHOD=REGISTER "RURI=sip:127.0.0.1" HEADER1="Expires: 300" \
    BODY= FROM=carol TO=carol USER=carol CHALLENGE=401 "PASSWORD=$PW_CAROL" FINAL=200
check "upgrade: carol registers (digest)" sipp_run reg_carol 127.0.0.1:5060 \
    -sf "$W/reg_carol.xml" -key domain 127.0.0.1 -i 127.0.0.1 -p "$UA_PORT" -m 1 -auth_uri 127.0.0.1
check "upgrade: a topic created" bash -c 'sipctl topic create sip:upteam@127.0.0.1 --member sip:carol@127.0.0.1 >/dev/null'
check "upgrade: $VER1 stops" stop_sipd

check "upgrade: apt-get install -y the $VER2 packages" install_debs "$V2" install-v2
check "upgrade: the installed version is $VER2" \
    test "$(dpkg-query -W -f='${Version}' sipd)" = "$VER2"
check "upgrade: the edited conffile is kept" bash -c \
    'grep -qx "# edited by the package test" /etc/sipd/sipd.conf && grep -q "^conninfo = host=" /etc/sipd/sipd.conf'
check "upgrade: postinst applied the pending migration (schema_migrations has 900)" bash -c \
    '[ "$(psql -XAtc "SELECT count(*) FROM schema_migrations WHERE version = 900" 2>/dev/null)" = 1 ] &&
     psql -XAtc "SELECT count(*) FROM package_upgrade_probe" >/dev/null 2>&1'
check "upgrade: the token survived the upgrade" test -s /etc/sipd/api-token
: >"$SIPD_LOG"
check "upgrade: $VER2 starts as the unit would" start_sipd 3
check "upgrade: sipd --version says $VER2" test "$(/usr/sbin/sipd --version)" = "sipd $VER2"
check "upgrade: carol's registration survived" bash -c \
    'curl -s -m 5 http://127.0.0.1:5080/api/v1/registrations/sip:carol@127.0.0.1 | grep -q "sip:carol@127.0.0.1:"'
check "upgrade: the topic survived" bash -c 'sipctl topic show sip:upteam@127.0.0.1 | grep -q carol'
check "upgrade: carol's credentials survived (sipctl user list)" bash -c 'sipctl user list | grep -q carol'
check "upgrade: curl /readyz is 200" readyz
check "upgrade: $VER2 stops with status 0" stop_sipd
psql -XAtqc "DROP TABLE IF EXISTS package_upgrade_probe" >/dev/null 2>&1

# ---- 5. purge -------------------------------------------------------------------------------
check "purge: apt-get purge -y sipd sipctl" bash -c 'apt-get purge -y -q sipd sipctl >"$0/purge.log" 2>&1' "$W"
snapshot >"$W/after.txt"
comm -13 "$W/before.txt" "$W/after.txt" >"$W/left.txt"
if [ -s "$W/left.txt" ]; then
    sed 's/^/# left after purge: /' "$W/left.txt" | head -20
fi
check "purge: nothing the packages created is left (files, directories)" test ! -s "$W/left.txt"
check "purge: no /etc/sipd, /var/lib/sipd, /usr/share/sipd" bash -c \
    '! ls -d /etc/sipd /var/lib/sipd /usr/share/sipd /usr/sbin/sipd /usr/bin/sipctl 2>/dev/null | grep -q .'
check "purge: the sipd system user may stay (Debian policy), nothing runs as it" bash -c \
    '! pgrep -u sipd >/dev/null 2>&1'
summary
[ "$FAILED" -eq 0 ]
