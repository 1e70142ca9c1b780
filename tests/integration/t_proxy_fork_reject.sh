#!/bin/bash
# t_proxy_fork_reject.sh - every device of a user rejects: the caller gets the best final
# response (RFC 3261 §16.7 step 6): a 6xx wins, else the lowest class; 503 is passed on as 500;
# 401/407 challenges of every branch are merged into the one response (§16.7 step 7).
# Two SIPp devices (scenarios/proxy_uas_reject.xml variants, proxy_uas_challenge.xml) register
# for the same AOR; the caller is py/proxy_call.py (the expected code is a parameter), which
# checks the 100 Trying, the final code and headers, and ACKs the final response. UDP devices
# (a TCP pair for 486 + 603).
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

# two_devices TR SCEN_A SCEN_B [KEYS_A] [KEYS_B]: a fresh user and Call-ID; both devices registered
two_devices() {
    local tr=$1 sa=$2 sb=$3 ka=${4:-} kb=${5:-}
    px_new_cid
    user=$(new_user rank)
    # shellcheck disable=SC2086 # the keys are word lists on purpose
    px_register_uas "A_$case" "$sa" "$tr" "$user" 1 "" $ka
    # shellcheck disable=SC2086
    px_register_uas "B_$case" "$sb" "$tr" "$user" 2 "" $kb
    check "$case: both devices registered" px_wait_bindings "$user" 2
}

sipd_start

case=486_603
two_devices udp "$(px_reject_scenario 486 'Busy Here')" "$(px_reject_scenario 603 Decline)"
px_call "$case: 486 and 603 -> the caller gets 603 (a 6xx wins)" udp --to "$user" \
    --call-id "$PX_CID1" --expect 603 --expect-100 --name "$case"
px_bg_ok "$case: device A (486) got the proxy's ACK" "A_$case"
px_bg_ok "$case: device B (603) got the proxy's ACK" "B_$case"

case=486_603_tcp
two_devices tcp "$(px_reject_scenario 486 'Busy Here')" "$(px_reject_scenario 603 Decline)"
px_call "$case: 486 and 603 over TCP -> 603" tcp --to "$user" --call-id "$PX_CID1" --expect 603 \
    --expect-100 --name "$case"
px_bg_ok "$case: device A (486) got the proxy's ACK" "A_$case"
px_bg_ok "$case: device B (603) got the proxy's ACK" "B_$case"

case=486_503
two_devices udp "$(px_reject_scenario 486 'Busy Here')" "$(px_reject_scenario 503 'Service Unavailable')"
px_call "$case: 486 and 503 -> 486 (the lowest class)" udp --to "$user" --call-id "$PX_CID1" \
    --expect 486 --name "$case"
px_bg_ok "$case: device A (486) got the proxy's ACK" "A_$case"
px_bg_ok "$case: device B (503) got the proxy's ACK" "B_$case"

case=404_503
two_devices udp "$(px_reject_scenario 404 'Not Found')" "$(px_reject_scenario 503 'Service Unavailable')"
px_call "$case: 404 and 503 -> 404 (the lowest class)" udp --to "$user" --call-id "$PX_CID1" \
    --expect 404 --name "$case"
px_bg_ok "$case: device A (404) got the proxy's ACK" "A_$case"
px_bg_ok "$case: device B (503) got the proxy's ACK" "B_$case"

case=503_alone
px_new_cid
user=$(new_user rank)
px_register_uas "A_$case" "$(px_reject_scenario 503 'Service Unavailable')" udp "$user" 1 ""
check "$case: the device registered" px_wait_bindings "$user" 1
px_call "$case: the only device answers 503 -> the caller gets 500, not 503" udp --to "$user" \
    --call-id "$PX_CID1" --expect 500 --name "$case"
px_bg_ok "$case: the device (503) got the proxy's ACK" "A_$case"

case=407_407
two_devices udp proxy_uas_challenge.xml proxy_uas_challenge.xml "-key realm realm-a.example" \
    "-key realm realm-b.example"
px_call "$case: two 407s -> one 407 with both Proxy-Authenticate challenges" udp --to "$user" \
    --call-id "$PX_CID1" --expect 407 --expect-header proxy-authenticate=2 \
    --expect-header-re 'proxy-authenticate=realm="realm-a\.example"' \
    --expect-header-re 'proxy-authenticate=realm="realm-b\.example"' --name "$case"
px_bg_ok "$case: device A got the proxy's ACK" "A_$case"
px_bg_ok "$case: device B got the proxy's ACK" "B_$case"

case=401_407
two_devices udp "$(px_www_challenge_scenario)" proxy_uas_challenge.xml "-key realm realm-w.example" \
    "-key realm realm-p.example"
px_call "$case: a 401 and a 407 -> one 401/407 carrying both challenges" udp --to "$user" \
    --call-id "$PX_CID1" --expect 401,407 --expect-header www-authenticate=1 \
    --expect-header proxy-authenticate=1 --name "$case"
px_bg_ok "$case: device A got the proxy's ACK" "A_$case"
px_bg_ok "$case: device B got the proxy's ACK" "B_$case"

sipd_stop
finish
