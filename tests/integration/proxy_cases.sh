#!/bin/bash
# proxy_cases.sh - helpers shared by the proxy/redirect tests (t_proxy_*.sh, t_redirect_*.sh).
# Source it after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$IT_DIR/proxy_cases.sh"
#
# How a callee is set up. A SIPp callee (scenarios/proxy_uas_*.xml) runs in CLIENT mode against
# sipd: it first REGISTERs its own address for USER@$DOMAIN (so the binding's source address is
# this very SIPp: its UDP port or its TCP connection), then waits for the INVITE the proxy
# forwards. SIPp matches incoming requests to calls by Call-ID, so the caller must use the Call-ID
# of the callee's REGISTER: both sides get the same -cid_str (px_new_cid), and a Python caller gets
# the value for call 1 ($PX_CID1).
# shellcheck shell=bash

declare -A PX_BG_PID=()   # NAME -> pid (the `timeout` wrapping a background SIPp/Python)
declare -A PX_BG_KIND=()  # NAME -> sipp | py
PX_CID=
PX_CID1=

# px_new_cid: a fresh -cid_str pattern (PX_CID) and its value for call 1 (PX_CID1).
px_new_cid() {
    PX_CID="px$$-$RANDOM$RANDOM-%u@127.0.0.1"
    # shellcheck disable=SC2034 # read by the tests that source this file
    PX_CID1=${PX_CID//%u/1}
}

# px_sipp_bg NAME SCENARIO TRANSPORT [SIPP ARGS...]: start a SIPp client against the daemon in the
# background, bounded in time like run_sipp (same traces in $T_DIR/NAME.*), with -cid_str $PX_CID.
# Default -m 1. The pid is kept for px_bg_wait and the cleanup trap.
px_sipp_bg() {
    local name=$1 scen=$2 transport=$3 tflag lport m_given='' a
    shift 3
    case $transport in
        udp) tflag=u1 ;;
        tcp) tflag=t1 ;;
        *) bail "px_sipp_bg: bad transport $transport" ;;
    esac
    for a in "$@"; do [ "$a" = "-m" ] && m_given=1; done
    lport=$(pick_port) || bail "no free port"
    case $scen in /*) ;; *) scen=$SCEN/$scen ;; esac
    local -a cmd=("$SIPP" -sf "$scen" -t "$tflag" -i "$SIP_HOST" -p "$lport" -nostdin
        -timeout "${SIPP_TIMEOUT:-30}s" -timeout_error -recv_timeout 5000 -max_retrans 5
        -cid_str "$PX_CID"
        -trace_err -error_file "$T_DIR/$name.errors.log"
        -trace_msg -message_file "$T_DIR/$name.messages.log"
        -trace_screen -screen_file "$T_DIR/$name.screen.log"
        -trace_logs -log_file "$T_DIR/$name.actions.log"
        -key domain "$DOMAIN")
    [ -n "$m_given" ] || cmd+=(-m 1)
    cmd+=("$@" "$SIP_HOST:$SIP_PORT")
    log "sipp (background $name): ${cmd[*]}"
    timeout -k 5 "$(( ${SIPP_TIMEOUT:-30} + 15 ))" "${cmd[@]}" >"$T_DIR/$name.out" 2>&1 </dev/null &
    PX_BG_PID[$name]=$!
    PX_BG_KIND[$name]=sipp
    track_pid "$!"
}

# px_sipp_server NAME SCENARIO TRANSPORT PORT [SIPP ARGS...]: a SIPp in SERVER mode (its scenario
# starts with a recv) listening on PORT, in the background, bounded in time; -m 1 by default.
px_sipp_server() {
    local name=$1 scen=$2 transport=$3 port=$4 tflag m_given='' a
    shift 4
    case $transport in
        udp) tflag=u1 ;;
        tcp) tflag=t1 ;;
        *) bail "px_sipp_server: bad transport $transport" ;;
    esac
    for a in "$@"; do [ "$a" = "-m" ] && m_given=1; done
    case $scen in /*) ;; *) scen=$SCEN/$scen ;; esac
    local -a cmd=("$SIPP" -sf "$scen" -t "$tflag" -i "$SIP_HOST" -p "$port" -nostdin
        -timeout "${SIPP_TIMEOUT:-30}s" -timeout_error -recv_timeout 5000 -max_retrans 5
        -trace_err -error_file "$T_DIR/$name.errors.log"
        -trace_msg -message_file "$T_DIR/$name.messages.log"
        -trace_screen -screen_file "$T_DIR/$name.screen.log"
        -trace_logs -log_file "$T_DIR/$name.actions.log")
    [ -n "$m_given" ] || cmd+=(-m 1)
    cmd+=("$@")
    log "sipp (background server $name): ${cmd[*]}"
    timeout -k 5 "$(( ${SIPP_TIMEOUT:-30} + 15 ))" "${cmd[@]}" >"$T_DIR/$name.out" 2>&1 </dev/null &
    PX_BG_PID[$name]=$!
    PX_BG_KIND[$name]=sipp
    track_pid "$!"
}

# px_py_bg NAME SCRIPT [ARGS...]: a Python client from py/ in the background (output in
# $T_DIR/NAME.out), bounded like run_py.
px_py_bg() {
    local name=$1 script=$2
    shift 2
    log "python (background $name): $script $*"
    timeout -k 5 "${PY_TIMEOUT:-60}" "$PYTHON" "$IT_DIR/py/$script" "$@" >"$T_DIR/$name.out" 2>&1 </dev/null &
    PX_BG_PID[$name]=$!
    PX_BG_KIND[$name]=py
    track_pid "$!"
}

# px_bg_wait NAME: wait for a background SIPp/Python; its exit status (0 = all right). A SIPp that
# failed gets its traces summarised, a Python its output printed.
px_bg_wait() {
    local name=$1 rc
    wait "${PX_BG_PID[$name]}"
    rc=$?
    if [ "${PX_BG_KIND[$name]}" = sipp ]; then
        [ "$rc" -ne 0 ] && { log "sipp $name exited with $rc"; _sipp_report "$name"; }
    else
        grep -Ev '^PASS: |: 0 failure\(s\)$' "$T_DIR/$name.out" | sed 's/^/#   /'
    fi
    return "$rc"
}

# px_bg_ok DESCRIPTION NAME: px_bg_wait recorded as PASS/FAIL.
px_bg_ok() { check "$1" px_bg_wait "$2"; }

# px_reg ARGS...: py/proxy_reg.py against the daemon (register, unregister, wait-bindings).
px_reg() { run_py proxy_reg.py "$@"; }

# px_wait_bindings USER N [TIMEOUT_S]: wait until USER@$DOMAIN has exactly N bindings.
px_wait_bindings() {
    run_py proxy_reg.py wait udp "$SIP_HOST" "$SIP_PORT" --domain "$DOMAIN" --user "$1" \
        --count "$2" --timeout "${3:-10}"
}

# px_log NAME: path of a SIPp message trace.
px_log() { printf '%s/%s.messages.log' "$T_DIR" "$1"; }

# _px_indented COMMAND...: run COMMAND with its output shown as '#   ' comment lines (so only the
# outer check prints PASS/FAIL lines); COMMAND's exit status.
_px_indented() {
    "$@" 2>&1 | grep -Ev '^PASS: |: 0 failure\(s\)$' | sed 's/^/#   /'
    return "${PIPESTATUS[0]}"
}

# px_msg DESCRIPTION ARGS...: a py/proxy_msglog.py assertion on SIPp message traces, as PASS/FAIL.
px_msg() {
    local what=$1
    shift
    check "$what" _px_indented run_py proxy_msglog.py "$@"
}

# px_call DESCRIPTION TRANSPORT ARGS...: py/proxy_call.py (a caller) recorded as PASS/FAIL.
px_call() {
    local what=$1 tr=$2
    shift 2
    check "$what" _px_indented run_py proxy_call.py "$tr" "$SIP_HOST" "$SIP_PORT" --domain "$DOMAIN" "$@"
}

# px_reject_scenario CODE REASON: print the path of a copy of scenarios/proxy_uas_reject.xml
# that rejects with "CODE REASON" instead of 486 (written into $T_DIR). SIPp checks status codes
# when it loads a scenario, so they cannot come from -key.
px_reject_scenario() {
    local f=$T_DIR/proxy_uas_reject_$1.xml
    sed "s|SIP/2.0 486 Busy Here|SIP/2.0 $1 $2|" "$SCEN/proxy_uas_reject.xml" >"$f"
    printf '%s' "$f"
}

# px_www_challenge_scenario: print the path of a copy of scenarios/proxy_uas_challenge.xml that
# answers 401 with WWW-Authenticate (a UAS challenge) instead of 407 with Proxy-Authenticate.
px_www_challenge_scenario() {
    local f=$T_DIR/proxy_uas_challenge_401.xml
    sed -e "s|SIP/2.0 407 Proxy Authentication Required|SIP/2.0 401 Unauthorized|" \
        -e "s|Proxy-Authenticate:|WWW-Authenticate:|" "$SCEN/proxy_uas_challenge.xml" >"$f"
    printf '%s' "$f"
}

# px_alive WHAT: the daemon is still running; otherwise a failure that ends the test (every later
# check would only fail with "connection refused").
px_alive() {
    kill -0 "$SIPD_PID" 2>/dev/null && return 0
    wait "$SIPD_PID"
    bail "sipd (pid $SIPD_PID) died during '$1' with status $? (log: $SIPD_LOG)"
}

# px_register_uas NAME SCEN TRANSPORT USER REGCSEQ CPARAMS [SIPP ARGS...]: start a SIPp callee
# device (proxy_uas_*.xml) that registers USER (Expires 120, REGISTER CSeq REGCSEQ, Contact
# parameters CPARAMS such as ";q=0.5" or ""); does NOT wait for the binding (px_wait_bindings).
px_register_uas() {
    local name=$1 scen=$2 tr=$3 user=$4 cseq=$5 cparams=$6
    shift 6
    px_sipp_bg "$name" "$scen" "$tr" -key user "$user" -key expires 120 -key regcseq "$cseq" \
        -key cparams "$cparams" "$@"
}

# px_480_cases: the 480 cases (RFC 3261 §21.4.18) on the running sipd: a user whose only binding
# was removed and one whose binding expired both get 480 (an unknown user gets 404). Sets
# PX_GONE and PX_EXPIRED to the two users, for checks against another node afterwards.
px_480_cases() {
    local user
    user=$(new_user gone)
    check "480: $user registers" px_reg register udp "$SIP_HOST" "$SIP_PORT" --user "$user" \
        --domain "$DOMAIN" --contact "<sip:$user@127.0.0.1:9>" --expires 60
    check "480: $user unregisters (Expires 0)" px_reg unregister udp "$SIP_HOST" "$SIP_PORT" \
        --user "$user" --domain "$DOMAIN" --contact "<sip:$user@127.0.0.1:9>"
    px_call "480: INVITE to a user whose only binding was removed" udp --to "$user" --expect 480 \
        --expect-100 --name "480 unregistered"
    PX_GONE=$user
    user=$(new_user expired)
    check "480: $user registers for 1 s" px_reg register udp "$SIP_HOST" "$SIP_PORT" --user "$user" \
        --domain "$DOMAIN" --contact "<sip:$user@127.0.0.1:9>" --expires 1
    sleep 2.5
    px_call "480: INVITE to a user whose binding expired" tcp --to "$user" --expect 480 \
        --name "480 expired"
    PX_EXPIRED=$user
}
