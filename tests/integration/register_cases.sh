# register_cases.sh - the registrar scenarios (RFC 3261 §10.3, RFC 3327, RFC 5626), shared by the
# t_register_*.sh tests (memory store) and t_pg_register_suite.sh (PostgreSQL store).
#
# Each case_* runs its SIPp scenario(s) (or py/ client) over UDP and then TCP against the daemon that the caller
# started (sipd_start) and records PASS/FAIL through check(); every run uses a fresh user so
# cases never see each other's bindings. Source after lib.sh.
# shellcheck shell=bash

TRANSPORTS=${TRANSPORTS:-udp tcp}

case_register_basic() {
    local tr
    for tr in $TRANSPORTS; do
        sipp_ok "register over $tr: 200 lists the binding (expires ~3600), Date, To tag, CSeq" \
            "basic_$tr" register_basic.xml "$tr" -key user "$(new_user basic)"
    done
}

case_register_refresh() {
    local tr
    for tr in $TRANSPORTS; do
        sipp_ok "refresh over $tr: same Call-ID, higher CSeq, Expires 1800 replaces 3600" \
            "refresh_$tr" register_refresh.xml "$tr" -key user "$(new_user refresh)"
    done
}

case_register_query() {
    local tr user
    for tr in $TRANSPORTS; do
        user=$(new_user query)
        sipp_ok "query over $tr: REGISTER without Contact lists the binding" \
            "query_$tr" register_query.xml "$tr" -key user "$user"
        sipp_ok "query over $tr from another Call-ID lists the binding" \
            "query_other_$tr" query_other.xml "$tr" -key user "$user"
    done
}

case_register_unregister() {
    local tr
    for tr in $TRANSPORTS; do
        sipp_ok "unregister over $tr: Expires 0 and ;expires=0 remove one binding each" \
            "unregister_$tr" register_unregister.xml "$tr" -key user "$(new_user unreg)"
    done
}

case_register_wildcard() {
    local tr
    for tr in $TRANSPORTS; do
        sipp_ok "wildcard over $tr: '*' needs Expires 0 and no other Contact (400), then removes all" \
            "wildcard_$tr" register_wildcard.xml "$tr" -key user "$(new_user wild)"
    done
}

case_register_423() {
    local tr
    for tr in $TRANSPORTS; do
        sipp_ok "423 over $tr: Expires 30 and ;expires=1 get 423 + Min-Expires: 60; 60 is accepted" \
            "423_$tr" register_423.xml "$tr" -key user "$(new_user brief)"
    done
}

# Python (py/cseq_order.py): SIPp discards an answer whose CSeq is lower than one it has seen.
case_register_cseq_order() {
    local tr
    for tr in $TRANSPORTS; do
        check "out-of-order CSeq over $tr: lower or equal CSeq in a new transaction gets 400" \
            run_py cseq_order.py "$tr" "$SIP_HOST" "$SIP_PORT"
    done
}

# Python (py/retransmit.py), UDP only (see t_retransmission.sh).
case_retransmission() {
    check "retransmissions over udp (py/retransmit.py)" run_py retransmit.py udp "$SIP_HOST" "$SIP_PORT"
}

case_register_two_contacts() {
    local tr user
    for tr in $TRANSPORTS; do
        user=$(new_user two)
        sipp_ok "two devices over $tr: device A registers c1" \
            "two_a_$tr" two_contacts_a.xml "$tr" -key user "$user"
        sipp_ok "two devices over $tr: device B's 200 lists c1 and c2, then c3+c4 added in one request" \
            "two_b_$tr" two_contacts_b.xml "$tr" -key user "$user"
    done
}

case_register_q() {
    local tr
    for tr in $TRANSPORTS; do
        sipp_ok "q-values over $tr: ;q=0.5 and ;q=1.0 listed, no q invented" \
            "q_$tr" register_q.xml "$tr" -key user "$(new_user qval)"
    done
}

case_register_path() {
    local tr
    for tr in $TRANSPORTS; do
        sipp_ok "Path over $tr: the 200 echoes the request's Path (RFC 3327)" \
            "path_$tr" register_path.xml "$tr" -key user "$(new_user path)"
    done
}

case_register_outbound() {
    local tr
    for tr in $TRANSPORTS; do
        sipp_ok "outbound over $tr: +sip.instance and reg-id listed back (RFC 5626)" \
            "outbound_$tr" register_outbound.xml "$tr" -key user "$(new_user ob)"
    done
}

case_register_expires_limits() {
    local tr
    for tr in $TRANSPORTS; do
        sipp_ok "expires limits over $tr: no Expires -> 3600 (default), 100000 -> 86400 (max)" \
            "limits_$tr" register_expires_limits.xml "$tr" -key user "$(new_user lim)"
    done
}

# Needs a daemon started with --set registrar.min_expires=1.
case_register_expiry() {
    local tr
    for tr in $TRANSPORTS; do
        sipp_ok "expiry over $tr: a 2 s binding is gone after 3.5 s, a 3600 s one stays" \
            "expiry_$tr" register_expiry.xml "$tr" -key user "$(new_user exp)"
    done
}

# 200 distinct users registering at once (rate 1000/s, up to 200 in flight): every one gets 200.
case_register_load() {
    local tr
    for tr in $TRANSPORTS; do
        sipp_ok "200 users over $tr at once: 200 x 200 OK" \
            "load_$tr" register_load.xml "$tr" -key user "$(new_user load)u" \
            -m 200 -r 1000 -rp 1000 -l 200
    done
}

# Every case that runs on a default-configured daemon (all but expiry).
case_register_all_default() {
    case_register_basic
    case_register_refresh
    case_register_query
    case_register_unregister
    case_register_wildcard
    case_register_423
    case_register_expires_limits
    case_register_cseq_order
    case_register_two_contacts
    case_register_q
    case_register_path
    case_register_outbound
    case_register_instance_tcp
    case_register_load
    case_retransmission
}

# Python (py/register_instance.py), TCP only: one device (+sip.instance, no reg-id) registers again
# from a new TCP connection; its binding is replaced (RFC 5627 §6) and a call reaches it once.
case_register_instance_tcp() {
    check "same +sip.instance from a new TCP connection replaces the binding; a call forks once" \
        run_py register_instance.py "$SIP_HOST" "$SIP_PORT" --domain "$DOMAIN" \
        --user "$(new_user inst)"
}
