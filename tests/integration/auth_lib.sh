# auth_lib.sh - helpers for the digest authentication tests (t_auth.sh, t_pg_auth.sh; docs/auth.md).
# Source it after lib.sh and sipctl_lib.sh.
#
#   auth_scenario NAME TEMPLATE WORD=VALUE...   fill in a template of scenarios/ (auth_request.xml,
#                                               auth_invite.xml) into $T_DIR/NAME.xml
#   auth_sipp WHAT NAME TRANSPORT URI           run it (sipp_ok with SCEN=$T_DIR); URI: the
#                                               Request-URI, which SIPp must put in the
#                                               credentials' uri (-auth_uri, without "sip:", which SIPp adds; by default it
#                                               writes sip:HOST:PORT, which sipd answers 400)
# shellcheck shell=bash

# auth_scenario NAME TEMPLATE WORD=VALUE...: @WORD@ -> VALUE; a HEADERn not given becomes a
# harmless X-Auth-Case line (an empty line would end SIPp's headers) and an empty BODY line goes.
auth_scenario() {
    local name=$1 template=$2 kv word value
    shift 2
    local -a sed_args=()
    for kv in "$@"; do
        word=${kv%%=*}
        value=${kv#*=}
        if [ "$word" = BODY ] && [ -z "$value" ]; then
            sed_args+=(-e "/^@BODY@\$/d")
        else
            sed_args+=(-e "s|@$word@|$value|g")
        fi
    done
    sed_args+=(-e "s|@HEADER1@|X-Auth-Case: $name|" -e "s|@HEADER2@|X-Auth-Case: $name|"
        -e "/^@BODY@\$/d")
    sed "${sed_args[@]}" "$SCEN/$template" >"$T_DIR/$name.xml"
    if grep -q '@[A-Z0-9]*@' "$T_DIR/$name.xml"; then
        bail "auth_scenario $name: unfilled $(grep -o '@[A-Z0-9]*@' "$T_DIR/$name.xml" | head -1)"
    fi
}

# auth_sipp WHAT NAME TRANSPORT URI: run $T_DIR/NAME.xml as a SIPp client (PASS/FAIL line WHAT)
# answering challenges with uri=URI.
auth_sipp() {
    local what=$1 name=$2 transport=$3 uri=$4
    SCEN=$T_DIR sipp_ok "$what" "$name.$transport" "$name.xml" "$transport" -auth_uri "${uri#sip:}"
}

# auth_sipp_cases TRANSPORT PW_ALICE PW_BOB: the SIPp cases of REGISTER, MESSAGE, SUBSCRIBE and
# INVITE (correct, wrong password, identity of another user) against a sipd with auth on and
# auth.algorithms=MD5 (SIPp 3.6 answers MD5 only), users alice and bob.
auth_sipp_cases() {
    local tr=$1 pa=$2 pb=$3
    local reg=(METHOD=REGISTER "RURI=sip:$DOMAIN" HEADER1="Expires: 60" BODY=)
    auth_scenario reg_ok auth_request.xml "${reg[@]}" FROM=alice TO=alice USER=alice \
        "PASSWORD=$pa" CHALLENGE=401 FINAL=200
    auth_sipp "SIPp $tr: REGISTER, right password: 401 then 200" reg_ok "$tr" "sip:$DOMAIN"
    auth_scenario reg_wrong auth_request.xml "${reg[@]}" FROM=alice TO=alice USER=alice \
        "PASSWORD=$pa-wrong" CHALLENGE=401 FINAL=401
    auth_sipp "SIPp $tr: REGISTER, wrong password: 401 again" reg_wrong "$tr" "sip:$DOMAIN"
    auth_scenario reg_other auth_request.xml "${reg[@]}" FROM=bob TO=bob USER=alice \
        "PASSWORD=$pa" CHALLENGE=401 FINAL=403
    auth_sipp "SIPp $tr: REGISTER for bob with alice's credentials: 403" reg_other "$tr" "sip:$DOMAIN"

    local msg=(METHOD=MESSAGE "RURI=sip:bob@$DOMAIN" TO=bob HEADER1="Content-Type: text/plain"
        BODY="hello bob")
    auth_scenario msg_ok auth_request.xml "${msg[@]}" FROM=alice USER=alice "PASSWORD=$pa" \
        CHALLENGE=401 FINAL=202
    auth_sipp "SIPp $tr: MESSAGE, right password: 401 then 202" msg_ok "$tr" "sip:bob@$DOMAIN"
    auth_scenario msg_wrong auth_request.xml "${msg[@]}" FROM=alice USER=alice \
        "PASSWORD=$pa-wrong" CHALLENGE=401 FINAL=401
    auth_sipp "SIPp $tr: MESSAGE, wrong password: 401 again" msg_wrong "$tr" "sip:bob@$DOMAIN"
    auth_scenario msg_other auth_request.xml "${msg[@]}" FROM=bob USER=alice "PASSWORD=$pa" \
        CHALLENGE=401 FINAL=403
    auth_sipp "SIPp $tr: MESSAGE From bob with alice's credentials: 403" msg_other "$tr" "sip:bob@$DOMAIN"

    local sub=(METHOD=SUBSCRIBE "RURI=sip:alice@$DOMAIN" TO=alice HEADER1="Event: im"
        HEADER2="Expires: 0" BODY=)
    auth_scenario sub_ok auth_request.xml "${sub[@]}" FROM=alice USER=alice "PASSWORD=$pa" \
        CHALLENGE=401 FINAL=200
    auth_sipp "SIPp $tr: SUBSCRIBE im, right password: 401 then 200" sub_ok "$tr" "sip:alice@$DOMAIN"
    auth_scenario sub_wrong auth_request.xml "${sub[@]}" FROM=alice USER=alice \
        "PASSWORD=$pa-wrong" CHALLENGE=401 FINAL=401
    auth_sipp "SIPp $tr: SUBSCRIBE im, wrong password: 401 again" sub_wrong "$tr" "sip:alice@$DOMAIN"
    auth_scenario sub_other auth_request.xml "${sub[@]}" FROM=bob USER=alice "PASSWORD=$pa" \
        CHALLENGE=401 FINAL=403
    auth_sipp "SIPp $tr: SUBSCRIBE From bob with alice's credentials: 403" sub_other "$tr" "sip:alice@$DOMAIN"

    auth_scenario inv_ok auth_invite.xml FROM=alice TO=nobody USER=alice "PASSWORD=$pa" FINAL=404
    auth_sipp "SIPp $tr: INVITE, right password: 407 then routed (404: no such user)" inv_ok "$tr" "sip:nobody@$DOMAIN"
    auth_scenario inv_wrong auth_invite.xml FROM=alice TO=nobody USER=alice \
        "PASSWORD=$pa-wrong" FINAL=407
    auth_sipp "SIPp $tr: INVITE, wrong password: 407 again" inv_wrong "$tr" "sip:nobody@$DOMAIN"
    auth_scenario inv_other auth_invite.xml FROM=bob TO=nobody USER=alice "PASSWORD=$pa" FINAL=403
    auth_sipp "SIPp $tr: INVITE From bob with alice's credentials: 403" inv_other "$tr" "sip:nobody@$DOMAIN"
    : "$pb"
}
