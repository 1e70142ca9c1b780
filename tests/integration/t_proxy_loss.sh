#!/bin/bash
# t_proxy_loss.sh - calls through the proxy complete over a lossy UDP path: both SIPp sides drop
# 10% of the packets they send and receive (-lost 10), so INVITEs, provisionals, 200s, ACKs and
# BYEs get lost on both legs; the transaction timers of the proxy (Timer A/E retransmissions
# toward the callee, answering retransmitted requests with the last response, forwarding
# retransmitted 2xx, RFC 3261 §17, §16.7) and of SIPp must recover every call.
# 20 calls at 5 per second (T1 = 500 ms). The callee is a SIPp server (scenarios/
# proxy_uas_lossy.xml) on port P, registered beforehand - without loss - by py/proxy_reg.py from
# that same port P; the caller is scenarios/proxy_uac.xml with 1 s between ACK and BYE (so that
# a 2xx retransmitted because the ACK was lost is ACKed again before the BYE leaves).
# A call may only fail when SIPp itself gives up (all its -max_retrans 5 retransmissions lost):
# at least 19 of 20 must succeed, and a failure must come with a SIPp retransmission timeout.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

CALLS=20

# successes NAME: the cumulative "Successful call" count of a SIPp run (its screen log).
# shellcheck disable=SC2317 # called through check (shellcheck does not see it)
successes() {
    awk -F'|' '/Successful call/ { gsub(/ /, "", $3); n = $3 } END { print n + 0 }' \
        "$T_DIR/$1.screen.log" 2>/dev/null
}

# enough NAME: every call succeeded, or one failed because SIPp (either side) ran out of
# retransmissions for it.
# shellcheck disable=SC2317 # called through check
enough() {
    local n
    n=$(successes "$1")
    log "$1: $n of $CALLS calls successful"
    [ "$n" -eq "$CALLS" ] && return 0
    if [ "$n" -ge $((CALLS - 1)) ] &&
        cat "$T_DIR/uac.errors.log" "$T_DIR/uas.errors.log" 2>/dev/null | grep -q 'retransmission timeout'; then
        log "$1: the failed call was SIPp giving up after -max_retrans (accepted)"
        return 0
    fi
    [ -s "$T_DIR/$1.errors.log" ] && grep -E '^[0-9]{4}-' "$T_DIR/$1.errors.log" | cut -c1-300 | sed 's/^/#   /'
    return 1
}

sipd_start
user=$(new_user loss)
port=$(pick_port) || bail "no free port"
check "the callee's address 127.0.0.1:$port is registered (from that port)" \
    px_reg register udp "$SIP_HOST" "$SIP_PORT" --user "$user" --domain "$DOMAIN" --bind-port "$port" \
    --contact "<sip:$user@127.0.0.1:$port>" --expires 300
uac_scen=$T_DIR/proxy_uac_1s.xml
sed 's|<pause milliseconds="300"/>|<pause milliseconds="1000"/>|' "$SCEN/proxy_uac.xml" >"$uac_scen"
SIPP_TIMEOUT=75
# -recv_timeout 30000: SIPp's wait at an optional step (100, 180, ACK) must outlast the peers'
# retransmissions (lib.sh's 5 s default does not, with a few copies lost)
px_sipp_server uas proxy_uas_lossy.xml udp "$port" -key user "$user" -m "$CALLS" -lost 10 \
    -recv_timeout 30000
# (px_sipp_bg + px_bg_wait rather than run_sipp: the scenario is a file in $T_DIR)
px_new_cid
px_sipp_bg uac "$uac_scen" udp -s "$user" -m "$CALLS" -r 5 -l 10 -lost 10 -recv_timeout 30000
px_bg_wait uac
px_bg_wait uas
px_alive "$CALLS calls with 10% loss"
check "caller: at least $((CALLS - 1)) of $CALLS calls complete with 10% loss" enough uac
check "callee: at least $((CALLS - 1)) of $CALLS calls complete with 10% loss" enough uas
sipd_stop
finish
