# presence_cases.sh - the presence scenarios (py/presence_flow.py; RFC 3856, RFC 3903, RFC 6665),
# shared by the t_presence_*.sh tests (memory store) and t_pg_presence_suite.sh (PostgreSQL store).
#
# One row per scenario: its name in py/presence_flow.py and what it checks. presence_cases runs
# the scenarios it is given over UDP and then TCP against the daemon the caller started with
# "${PRESENCE_FLAGS[@]}"; every scenario uses fresh users, so they share one daemon. Source after
# lib.sh. (shutdown is not a row: it needs the daemon stopped under it, see t_presence_shutdown.sh.)
# shellcheck shell=bash

TRANSPORTS=${TRANSPORTS:-udp tcp}

# The short expiries the scenarios wait for (expiry: 2 s publications and subscriptions).
# shellcheck disable=SC2034 # read by the tests that source this file
PRESENCE_FLAGS=(--set broker.presence_publish_min_expires=2 --set broker.presence_min_expires=2)

# scenario -> what it checks (in one line; py/presence_flow.py says it in full)
declare -A PRESENCE_CASE=(
    [basic]="SUBSCRIBE; PUBLISH initial/refresh/modify/remove, 412; refresh; unsubscribe"
    [errors]="489, 400, 415, 406, 423 with Min-Expires, a foreign domain"
    [bad_event]="(node without the proxy role) SUBSCRIBE for another package 489, no Event 400"
    [expiry]="a 2 s publication expires (NOTIFY closed, then 412); a 2 s subscription ends"
    [compose]="two publishers combine, newest first; a tuple id used twice keeps the newest"
    [fetch]="SUBSCRIBE Expires 0: one NOTIFY terminated carrying the state"
    [reject]="a watcher answering a NOTIFY with 481 loses its subscription (RFC 6665 §4.2.2)"
)
# Every scenario a default daemon runs (bad_event needs --roles registrar,broker).
# shellcheck disable=SC2034 # read by the tests that source this file
PRESENCE_DEFAULT_CASES=(basic errors expiry compose fetch reject)

# presence_cases LABEL SCENARIO...: each scenario over each transport, one check per run, named
# "LABEL<scenario> over <transport>" (LABEL e.g. "presence " or "postgres: presence ").
presence_cases() {
    local label=$1 scen tr
    shift
    for scen in "$@"; do
        if [ -z "${PRESENCE_CASE[$scen]+set}" ]; then
            check "presence_cases: unknown scenario $scen" false
            continue
        fi
        for tr in $TRANSPORTS; do
            check "$label$scen over $tr" \
                run_py presence_flow.py "$scen" "$tr" "$SIP_HOST" "$SIP_PORT"
        done
    done
}
