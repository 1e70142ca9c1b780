#!/bin/bash
# t_limits_flood.sh - the per-source request rate (docs/limits.md): one source (127.0.0.2)
# flooding OPTIONS over UDP gets its burst answered, then 503 with Retry-After, then (beyond
# limits.reject_rate) silence; meanwhile another source (127.0.0.3, SIPp) registers and a call
# from it to a registered callee (127.0.0.1) completes. Counted from the flood's answers and
# from /metrics (sipd_limit_rejections_total). Python py/flood.py, SIPp scenarios.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

RATE=50 BURST=50 REJECT=10 SECS=4
sipd_start --set limits.exempt= --set limits.rate=$RATE --set limits.burst=$BURST \
    --set limits.reject_rate=$REJECT

run_py flood.py "$SIP_HOST" "$SIP_PORT" --bind 127.0.0.2 --seconds $SECS --rate 3000 \
    >"$T_DIR/flood.json" 2>"$T_DIR/flood.err" &
FLOOD=$!
track_pid "$FLOOD"
sleep 1 # the flood is on

# the other source: a REGISTER, and a call to a callee registered from 127.0.0.1
SIPP_LOCAL=127.0.0.3 sipp_ok "127.0.0.3 registers during the flood (200)" reg_other \
    register_basic.xml udp -key user "$(new_user other)"
px_new_cid
callee=$(new_user callee)
px_register_uas uas proxy_uas_answer.xml udp "$callee" 1 ""
check "the callee registered during the flood" px_wait_bindings "$callee" 1
SIPP_LOCAL=127.0.0.3 sipp_ok "127.0.0.3 calls the callee during the flood: INVITE..200, ACK, BYE" \
    uac proxy_uac.xml udp -cid_str "$PX_CID" -s "$callee"
px_bg_ok "the callee got INVITE, ACK and BYE" uas

wait "$FLOOD"
log "flood: $(cat "$T_DIR/flood.json")"
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$T_DIR/flood.json" "$1"; }
sent=$(field sent) ok=$(field ok) thr=$(field throttled) ra=$(field retry_after)
# the flood ran at least 4 x (rate + a margin) requests, or the test proves nothing
check "the flood sent more than its rate allows ($sent in $SECS s)" test "$sent" -gt $((4 * RATE * SECS))
check "the flood got its burst and rate answered, no more ($ok <= $((BURST + RATE * (SECS + 2))))" \
    test "$ok" -ge "$BURST" -a "$ok" -le $((BURST + RATE * (SECS + 2)))
check "the flood got 503s ($thr), each with Retry-After ($ra)" test "$thr" -gt 0 -a "$thr" -eq "$ra"
check "at most limits.reject_rate 503s per second ($thr <= $((REJECT * (SECS + 2))))" \
    test "$thr" -le $((REJECT * (SECS + 2)))

metrics=$(curl -s --max-time 5 "$API_URL/metrics")
rate=$(printf '%s\n' "$metrics" | awk '/^sipd_limit_rejections_total\{limit="rate"\}/ {print $2}')
silent=$(printf '%s\n' "$metrics" | awk '/^sipd_limit_rejections_total\{limit="rate_silent"\}/ {print $2}')
log "metrics: rate=$rate rate_silent=$silent"
check "sipd_limit_rejections_total{limit=rate} counts the 503s (${rate:-none} >= $thr)" \
    test "${rate:-0}" -ge "$thr"
check "sipd_limit_rejections_total{limit=rate_silent} counts the dropped ones (${silent:-none})" \
    test "${silent:-0}" -gt 0
check "OPTIONS from 127.0.0.1 still 200 after the flood" sip_ping udp "$SIP_HOST" "$SIP_PORT" 2
sipd_stop
finish
