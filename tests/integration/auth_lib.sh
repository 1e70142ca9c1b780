# auth_lib.sh - helpers for the digest authentication tests (t_auth.sh, t_pg_auth.sh; docs/auth.md).
# Source it after lib.sh and sipctl_lib.sh.
#
#   auth_scenario NAME TEMPLATE WORD=VALUE...   fill in a template of scenarios/ (auth_request.xml,
#                                               auth_invite.xml) into $T_DIR/NAME.xml
#   auth_sipp WHAT NAME TRANSPORT URI           run it (sipp_ok with SCEN=$T_DIR); URI: the
#                                               Request-URI, which SIPp must put in the
#                                               credentials' uri (-auth_uri, without "sip:", which SIPp adds; by default it
#                                               writes sip:HOST:PORT, which sipd answers 400)
#   auth_sipp_cases TRANSPORT PW_ALICE PW_BOB   the REGISTER, MESSAGE, SUBSCRIBE and INVITE cases,
#                                               one table row per method
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
# INVITE against a sipd with auth on and auth.algorithms=MD5 (SIPp 3.6 answers MD5 only), users
# alice and bob. Each row of the table below is three cases: alice with the right password
# (challenged, then the final answer), alice with a wrong one (challenged again), and bob's
# identity with alice's credentials (403). Columns, split on '|':
#   name      the scenarios' prefix: $T_DIR/NAME_ok.xml, NAME_wrong.xml, NAME_other.xml
#   template  the template of scenarios/ (auth_scenario)
#   what      the request as the PASS lines name it
#   uri       the Request-URI, and so the credentials' uri
#   to        the To user; '=' for the From user's (a REGISTER is for its own AOR)
#   ch        the challenge: 401, or 407 for an INVITE
#   final     the final answer to the right password
#   said      ... as its PASS line says it
#   other     the third case as its PASS line names it
#   words     the template's other WORD=VALUE pairs, split on ';'
auth_sipp_cases() {
    local tr=$1 pa=$2 pb=$3
    local name template what uri to ch final said other words kind from to_user password fin line
    local -a w
    while IFS='|' read -r name template what uri to ch final said other words; do
        IFS=';' read -r -a w <<<"$words"
        for kind in ok wrong other; do
            from=alice password=$pa fin=$final line="$what, right password: $ch then $said"
            case $kind in
            wrong) password=$pa-wrong fin=$ch line="$what, wrong password: $ch again" ;;
            other) from=bob fin=403 line="$other with alice's credentials: 403" ;;
            esac
            to_user=$to
            [ "$to" = "=" ] && to_user=$from
            auth_scenario "${name}_$kind" "$template" "${w[@]}" "FROM=$from" "TO=$to_user" \
                USER=alice "PASSWORD=$password" "CHALLENGE=$ch" "FINAL=$fin"
            auth_sipp "SIPp $tr: $line" "${name}_$kind" "$tr" "$uri"
        done
    done <<EOF
reg|auth_request.xml|REGISTER|sip:$DOMAIN|=|401|200|200|REGISTER for bob|METHOD=REGISTER;RURI=sip:$DOMAIN;HEADER1=Expires: 60;BODY=
msg|auth_request.xml|MESSAGE|sip:bob@$DOMAIN|bob|401|202|202|MESSAGE From bob|METHOD=MESSAGE;RURI=sip:bob@$DOMAIN;HEADER1=Content-Type: text/plain;BODY=hello bob
sub|auth_request.xml|SUBSCRIBE im|sip:alice@$DOMAIN|alice|401|200|200|SUBSCRIBE From bob|METHOD=SUBSCRIBE;RURI=sip:alice@$DOMAIN;HEADER1=Event: im;HEADER2=Expires: 0;BODY=
inv|auth_invite.xml|INVITE|sip:nobody@$DOMAIN|nobody|407|404|routed (404: no such user)|INVITE From bob|
EOF
    : "$pb"
}
