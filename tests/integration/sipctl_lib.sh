# sipctl_lib.sh - helpers for the sipctl tests (t_sipctl.sh, t_pg_sipctl.sh): run the real
# sipctl and assert on what a user sees. Source it after lib.sh:
#
#   ctl --token "$API_TOKEN" node drain n1      # stdout in $OUT, stderr in $ERR, status in $RC
#   check "drained" out_has ' n1 +drain(ing|ed) '
#
# HOME is the test's directory (history, ~/.config/sipctl.conf) and no operator's config or
# token leaks in. The URL is the caller's SIPCTL_URL.
# shellcheck shell=bash disable=SC2317 # helpers run through check

SIPCTL=${SIPCTL:-$top_builddir/ctl/sipctl}
[ -x "$SIPCTL" ] || bail "sipctl not built at $SIPCTL"
export HOME=$T_DIR SIPCTL_CONFIG=$T_DIR/none.conf
unset SIPCTL_TOKEN

# ctl ARGS...: run sipctl (bounded); stdout in $OUT, stderr in $ERR, exit status in $RC; both
# shown in the test's log
ctl() {
    timeout -k 2 30 "$SIPCTL" "$@" >"$T_DIR/out" 2>"$T_DIR/err"
    RC=$?
    OUT=$(cat "$T_DIR/out")
    ERR=$(cat "$T_DIR/err")
    log "sipctl $* -> $RC"
    [ -z "$OUT" ] || sed 's/^/#   | /' "$T_DIR/out" | head -n 20
    [ -z "$ERR" ] || sed 's/^/#   ! /' "$T_DIR/err"
}
rc_is() { [ "$RC" = "$1" ]; }
# out_has ERE: a line of the last output matches
out_has() { grep -Eq -- "$1" <<<"$OUT"; }
# err_is_one_line ERE: the last stderr is exactly one line, matching
err_is_one_line() { [ "$(wc -l <"$T_DIR/err")" = 1 ] && grep -Eq -- "$1" "$T_DIR/err"; }
# json_ok PYTHON-EXPR: the last output parses as JSON (j) and EXPR holds
json_ok() { python3 -c "import json,sys; j=json.load(open('$T_DIR/out')); sys.exit(0 if ($1) else 1)"; }
# missing: the last command failed because the API does not serve its route (404 "no such
# route", or 405): every route of docs/api.md is served, so that is a failure, said once here
missing() {
    if [ "$RC" = 1 ] && grep -Eq 'no such route|method not allowed' "$T_DIR/err"; then
        printf 'FAIL: the API does not serve the route (%s)\n' "$ERR"
        T_FAILS=$((T_FAILS + 1))
        return 0
    fi
    return 1
}
skip() { :; } # missing() counted the failure
# ctl_shows ERE ARGS...: the output of `sipctl ARGS` matches (for cl_wait)
ctl_shows() {
    local p=$1
    shift
    ctl "$@" && out_has "$p"
}
