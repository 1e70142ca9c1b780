#!/bin/bash
# t_presence_policy.sh - who may watch a presentity (docs/presence.md §6.1), memory store.
# Auth on (users alice, bob, carol of example.com added with sipctl): an authenticated user of the
# domain may watch (401 first); without credentials the SUBSCRIBE is challenged; the owner
# watches itself; bob blocked (sipctl presence block) gets 403, and again after `unlist` he may
# watch; bob subscribed and blocked meanwhile is refused at his next refresh (403, then NOTIFY
# terminated;reason=rejected); a user of another domain (not challenged: sipd cannot know its
# password) gets 403 unless allowed, by AOR (REST PUT) or by domain (sipctl presence allow). The REST resource:
# GET/PUT /api/v1/presence/{aor}/rules, canonical entries, unknown fields and bad entries 400,
# the token required. Auth off: a From of the served domain may watch, another domain 403 unless
# allowed. UDP for most cases, TCP for one of each kind. Client: py/presence_policy.py.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/sipctl_lib.sh"
. "$IT_DIR/api_lib.sh"

T=(--token "$API_TOKEN")
PA=alice-pw-$RANDOM
PB=bob-pw-$RANDOM
PC=carol-pw-$RANDOM
RULES=/api/v1/presence/sip:alice@$DOMAIN/rules

# watch WHAT TRANSPORT WATCHER PASSWORD WANT [THEN]: WATCHER's SUBSCRIBE to alice gets WANT
# (THEN: py/presence_policy.py's command between the SUBSCRIBE and a refresh that must be refused)
watch() {
    check "$1" run_py presence_policy.py "$2" "$SIP_HOST" "$SIP_PORT" alice "$3" "$4" "$5" "${@:6}"
}

# ---- auth on ----
sipd_start --auth on
export SIPCTL_URL=$API_URL
ctl "${T[@]}" user add alice@$DOMAIN --password "$PA"
ctl "${T[@]}" user add bob@$DOMAIN --password "$PB"
ctl "${T[@]}" user add carol@$DOMAIN --password "$PC"
check "three users added" test "$RC" = 0

watch "auth on, no rules: bob (authenticated) may watch alice" udp "bob@$DOMAIN" "$PB" 200
watch "... over TCP too" tcp "bob@$DOMAIN" "$PB" 200
watch "auth on: a SUBSCRIBE without credentials is challenged (401)" udp "bob@$DOMAIN" - 401
watch "auth on: a wrong password is challenged again" udp "bob@$DOMAIN" "$PB-wrong" 401
watch "auth on: alice watches herself" udp "alice@$DOMAIN" "$PA" 200
watch "auth on, no rules: dave of another domain gets 403" udp dave@example.org - 403
check "the refusal is logged with its reason" \
    grep -q 'presence subscribe refused aor=sip:alice@example.com watcher=sip:dave@example.org authenticated=0 reason=other-domain' "$SIPD_LOG"

ctl presence rules alice@$DOMAIN
check "sipctl presence rules: none yet (the header only)" bash -c "[ $RC = 0 ] && [ \"\$(wc -l <'$T_DIR/out')\" = 1 ]"
ctl presence block alice@$DOMAIN bob@$DOMAIN
check "sipctl presence block without the token: refused" bash -c "[ $RC != 0 ]"
ctl "${T[@]}" presence block alice@$DOMAIN bob@$DOMAIN
check "sipctl presence block bob: exit 0, says so" bash -c "[ $RC = 0 ] && grep -q 'sip:alice@$DOMAIN: sip:bob@$DOMAIN blocked' '$T_DIR/out'"
watch "bob blocked: 403 although authenticated" udp "bob@$DOMAIN" "$PB" 403
watch "... over TCP too" tcp "bob@$DOMAIN" "$PB" 403
watch "carol (not listed) may still watch" udp "carol@$DOMAIN" "$PC" 200
watch "a block list does not stop the owner" udp "alice@$DOMAIN" "$PA" 200
ctl presence rules alice@$DOMAIN
check "sipctl presence rules: bob on the block list" out_has "^block +sip:bob@$DOMAIN\$"
ctl "${T[@]}" presence unlist alice@$DOMAIN bob@$DOMAIN
check "sipctl presence unlist bob: exit 0" rc_is 0
watch "bob unlisted: may watch again" udp "bob@$DOMAIN" "$PB" 200
watch "bob subscribed, then blocked: his refresh gets 403 and the subscription ends (rejected)" \
    udp "bob@$DOMAIN" "$PB" 200 "'$SIPCTL' --url '$API_URL' ${T[*]} presence block alice@$DOMAIN bob@$DOMAIN"
check "the end is logged with its reason" \
    grep -q "presence subscription rejected aor=sip:alice@$DOMAIN watcher=sip:bob@$DOMAIN .*reason=blocked" "$SIPD_LOG"
ctl "${T[@]}" presence unlist alice@$DOMAIN bob@$DOMAIN
ctl "${T[@]}" presence unlist alice@$DOMAIN bob@$DOMAIN
check "unlist of a watcher on no list: exit 1, not found" err_is_one_line '^sipctl: not found: '

# REST: allow dave of another domain by AOR; errors
put() { expect "$1" "$2" "$3" PUT "$4" "${AUTH[@]}" "${JSON[@]}" --data-binary "$5"; }
put "PUT rules: allow dave (canonical: sip: added, host lower case), block a domain" 200 \
    "j == {'aor': 'sip:alice@$DOMAIN', 'allow': ['sip:dave@example.org'], 'block': ['spam.example']}" \
    "$RULES" '{"allow": ["dave@EXAMPLE.org", "sip:dave@example.org"], "block": ["Spam.Example"]}'
expect "GET rules" 200 \
    "j == {'aor': 'sip:alice@$DOMAIN', 'allow': ['sip:dave@example.org'], 'block': ['spam.example']}" \
    GET "$RULES"
expect "PUT rules without the token: 401" 401 "$BAD" PUT "$RULES" "${JSON[@]}" --data-binary '{"allow": []}'
put "PUT rules with an unknown field: 400" 400 "$BAD" "$RULES" '{"allow": [], "deny": []}'
put "PUT rules with a bad entry: 400" 400 "$BAD and 'allow[1]' in j['detail']" "$RULES" \
    '{"allow": ["sip:ok@example.org", "sip:bad guy@example.org"]}'
put "PUT rules with an entry of 257 bytes: 400" 400 "$BAD" "$RULES" \
    "{\"block\": [\"$(printf 'a%.0s' $(seq 257))\"]}"
put "PUT rules with a list that is no array: 400" 400 "$BAD" "$RULES" '{"block": "bob"}'
put "PUT rules of a path that is no AOR: 400" 400 "$BAD" /api/v1/presence/nobody/rules '{"allow": []}'
expect "the bad PUTs changed nothing" 200 "j['allow'] == ['sip:dave@example.org'] and j['block'] == ['spam.example']" GET "$RULES"
watch "dave of another domain, allowed by AOR: may watch (not challenged)" udp dave@example.org - 200
watch "... over TCP too" tcp dave@example.org - 200
watch "erin of the same other domain, not listed: 403" udp erin@example.org - 403
watch "x of a blocked domain: 403" udp x@spam.example - 403
ctl "${T[@]}" presence allow alice@$DOMAIN example.org
check "sipctl presence allow a whole domain: exit 0" rc_is 0
watch "erin, her domain allowed: may watch" udp erin@example.org - 200
ctl --json presence rules alice@$DOMAIN
check "sipctl --json presence rules: the REST answer" \
    json_ok "j['allow'] == ['sip:dave@example.org', 'example.org'] and j['block'] == ['spam.example']"
ctl "${T[@]}" presence block alice@$DOMAIN example.org
check "sipctl presence block moves the domain from allow to block" bash -c "[ $RC = 0 ] && grep -q 'example.org blocked' '$T_DIR/out'"
expect "... GET shows it" 200 "j['allow'] == ['sip:dave@example.org'] and j['block'] == ['spam.example', 'example.org']" GET "$RULES"
watch "dave allowed by AOR but his domain blocked: 403 (block wins)" udp dave@example.org - 403
expect "another presentity has no rules" 200 "j == {'aor': 'sip:bob@$DOMAIN', 'allow': [], 'block': []}" \
    GET "/api/v1/presence/bob%40$DOMAIN/rules"
sipd_stop

# ---- auth off: identities are claims ----
SIP_PORT=
sipd_start
export SIPCTL_URL=$API_URL
watch "auth off: a From of the served domain may watch" udp "bob@$DOMAIN" - 200
watch "auth off: a From of another domain gets 403" udp dave@example.org - 403
ctl "${T[@]}" presence allow alice@$DOMAIN sip:dave@example.org
check "sipctl presence allow dave: exit 0" rc_is 0
watch "auth off: dave allowed: may watch" udp dave@example.org - 200
watch "... over TCP too" tcp dave@example.org - 200
ctl "${T[@]}" presence block alice@$DOMAIN bob@$DOMAIN
watch "auth off: bob blocked: 403" udp "bob@$DOMAIN" - 403
sipd_stop
finish
