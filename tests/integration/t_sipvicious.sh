#!/bin/bash
# t_sipvicious.sh - the scanners of Debian's sipvicious against sipd on loopback, from 127.0.0.2
# (limits.rate=20/s per source, nothing exempt):
#   - svmap finds the server and learns no product name (no Server/User-Agent header);
#   - with digest authentication on and user 100 added, svwar (REGISTER and INVITE scans over 40
#     extensions) finds no user: every extension gets the same challenge;
#   - svcrack (REGISTER is challenged; MD5 offered, all it knows) is throttled: its attempts reaching sipd per
#     second (sipd_requests_received_total{method=REGISTER}) stay within the per-source rate and
#     the excess is refused (sipd_limit_rejections_total{limit=rate|rate_silent}), or, sooner,
#     by the failed-authentication limits (limit=auth_user|auth_source, docs/auth.md: after
#     auth.user_fail_burst wrong passwords for user 100 it gets 503 and gives up);
#   - sipd keeps serving: OPTIONS from 127.0.0.1 gets 200 after each tool.
# Every tool runs under `timeout`, bound to 127.0.0.2.
. "$(dirname "$0")/lib.sh"

for t in svmap svwar svcrack; do command -v "$t" >/dev/null || bail "$t not installed (Debian package sipvicious)"; done
RATE=20
# the scanners write sip:127.0.0.1 (no port) as the Request-URI: make it one of our domains
sipd_start --domain "$DOMAIN,127.0.0.1" --set limits.exempt= --set limits.rate=$RATE \
    --set limits.burst=$RATE --auth on --set auth.algorithms=MD5
# (MD5 only: svcrack answers the first challenge and knows no SHA-256; it crashes on one)
# user 100 exists (the extension svcrack attacks; svwar must not tell it from 101..139)
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $API_TOKEN" \
    -H 'Content-Type: application/json' -d "{\"user\":\"100@127.0.0.1\",\"password\":\"pw-$RANDOM$RANDOM\"}" \
    "$API_URL/api/v1/users")
check "user 100@127.0.0.1 added through the API (201, got $code)" test "$code" = 201
cd "$T_DIR" || bail "no test directory"   # the tools write their session files in the cwd
export HOME=$T_DIR                          # ... and in ~/.sipvicious

metric() { # metric NAME LABELS: its value in /metrics, 0 when absent (LABELS '': none)
    local k="$1"
    [ -n "${2:-}" ] && k="$1{$2}"
    curl -s --max-time 5 "$API_URL/metrics" | awk -v k="$k" 'index($0, k " ") == 1 {print $2; f=1} END {if (!f) print 0}'
}

timeout 60 svmap -b 127.0.0.2 -p "$SIP_PORT" 127.0.0.1 >svmap.out 2>&1
log "svmap: $(grep -E "^\| 127" svmap.out | tr -s ' ')"
check "svmap finds sipd at 127.0.0.1:$SIP_PORT" grep -q "| 127.0.0.1:$SIP_PORT " svmap.out
check "svmap learns no product name (User Agent 'unknown')" \
    grep -qE "\| 127.0.0.1:$SIP_PORT +\| unknown +\|" svmap.out
check "OPTIONS 200 after svmap" sip_ping udp "$SIP_HOST" "$SIP_PORT" 2

# consistent: every extension svwar lists has the same Authentication column
one_answer() {
    local n
    n=$(grep -E '^\| [0-9]+ ' "$1" | awk -F'|' '{gsub(/ /, "", $3); print $3}' | sort -u | wc -l)
    log "$1: $(grep -cE '^\| [0-9]+ ' "$1") extensions listed, $n distinct answer(s): $(grep -E '^\| [0-9]+ ' "$1" | awk -F'|' '{gsub(/ /, "", $3); print $3}' | sort | uniq -c | tr -s ' \n' ' ')"
    [ "$n" -le 1 ]
}
for m in REGISTER INVITE; do
    timeout 90 svwar -b 127.0.0.2 -m "$m" -e 100-139 -p "$SIP_PORT" 127.0.0.1 >"svwar_$m.out" 2>&1
    rc=$?
    check "svwar $m scan ends in time (exit $rc)" test "$rc" -ne 124 -a "$rc" -ne 137
    check "svwar $m: one and the same answer for every extension" one_answer "svwar_$m.out"
    check "svwar $m finds no user (user 100 exists)" grep -q "found nothing" "svwar_$m.out"
    check "OPTIONS 200 after svwar $m" sip_ping udp "$SIP_HOST" "$SIP_PORT" 2
done

reg0=$(metric sipd_requests_received_total 'method="REGISTER"')
refused() { # refusals by the request rate and the failed-authentication limits
    echo $(( $(metric sipd_limit_rejections_total 'limit="rate"') + $(metric sipd_limit_rejections_total 'limit="rate_silent"') \
        + $(metric sipd_limit_rejections_total 'limit="auth_user"') + $(metric sipd_limit_rejections_total 'limit="auth_source"') ))
}
fails0=$(metric sipd_auth_failures_total '')
rej0=$(refused)
t0=$(date +%s.%N)
timeout 60 svcrack -b 127.0.0.2 -u 100 -r 1-2000 -p "$SIP_PORT" --maximumtime 5 127.0.0.1 >svcrack.out 2>&1
rc=$?
t1=$(date +%s.%N)
reg=$(( $(metric sipd_requests_received_total 'method="REGISTER"') - reg0 ))
rej=$(( $(refused) - rej0 ))
fails=$(( $(metric sipd_auth_failures_total '') - fails0 ))
secs=$(python3 -c "print(max(1.0, $t1 - $t0))")
log "svcrack (exit $rc, ${secs} s): $reg REGISTERs reached sipd, $fails wrong passwords checked, $rej refused by the limits; $(grep -E '^\| 100 ' svcrack.out | tr -s ' ')"
check "svcrack ends in time (exit $rc)" test "$rc" -ne 124 -a "$rc" -ne 137
if grep -qE "^\| 100 +\| \[no password\]" svcrack.out; then
    # digest authentication off (today): nothing to crack; the lead turns this into the branch below
    log "svcrack found no challenge: REGISTER is not authenticated yet (issue 11 digest auth)"
    check "svcrack saw no challenge and stopped after a handful of requests ($reg)" test "$reg" -le 5
else
    check "svcrack's attempts reaching sipd stay within $RATE/s (+ burst): $reg in $secs s" \
        python3 -c "import sys; sys.exit(0 if $reg <= $RATE * $secs + $RATE + 5 else 1)"
    check "svcrack was throttled: $rej attempts refused" test "$rej" -gt 0
    check "at most auth.user_fail_burst (5) of svcrack's passwords were checked ($fails)" test "$fails" -le 5
fi
check "OPTIONS 200 after svcrack" sip_ping udp "$SIP_HOST" "$SIP_PORT" 2
cd / || true
sipd_stop
finish
