#!/bin/bash
# t_api_topics.sh - the REST API's topics, members, messages and subscriptions on the memory
# store (docs/api.md "Topics, subscriptions, messages"): a group made through the API, a member's
# real device receiving the notices posted through the API with the answered seqs, the messages
# list with after/limit/next, subscriptions by topic and by user, members added and removed
# (403 for a removed member), page mode (py/api_topics.py); then invalid input (400 with error
# and detail), 404s and 409s with curl, and topics listed page by page.
. "$(dirname "$0")/lib.sh"

sipd_start
prefix=$(new_user at)
check "topics, members, notices, subscriptions with devices (py/api_topics.py)" \
    run_py api_topics.py tcp "$SIP_HOST" "$SIP_PORT" "$API_URL" "$API_TOKEN" "$prefix"

. "$IT_DIR/api_lib.sh"
ERR="'error' in j and 'detail' in j"
G="sip%3Ag1-$prefix%40$DOMAIN"

# ---- invalid input ----
expect "POST /topics with malformed JSON" 400 "j['error'] == 'malformed JSON'" POST /api/v1/topics "${AUTH[@]}" -d '{"topic":'
expect "POST /topics with an unknown field" 400 "j['error'] == 'unknown field' and 'memebrs' in j['detail']" POST /api/v1/topics "${AUTH[@]}" -d '{"topic":"sip:x@example.com","memebrs":[]}'
expect "POST /topics with a topic that is no SIP URI" 400 "$ERR and 'topic' in j['detail']" POST /api/v1/topics "${AUTH[@]}" -d '{"topic":"http://x/y"}'
expect "POST /topics with a member that is no SIP URI" 400 "$ERR and 'members[1]' in j['detail']" POST /api/v1/topics "${AUTH[@]}" -d '{"topic":"sip:x@example.com","members":["a@example.com","tel:+1"]}'
expect "POST /topics with members not an array" 400 "$ERR" POST /api/v1/topics "${AUTH[@]}" -d '{"topic":"sip:x@example.com","members":"a@example.com"}'
expect "POST /topics without the token" 401 "j['error'] == 'unauthorized'" POST /api/v1/topics -d '{"topic":"sip:x@example.com"}'
expect "GET /topics?limit=0" 400 "j['error'] == 'bad query argument' and 'limit' in j['detail']" GET "/api/v1/topics?limit=0"
expect "GET /topics?limit=5000" 400 "j['error'] == 'bad query argument'" GET "/api/v1/topics?limit=5000"
expect "GET .../messages?limit=abc" 400 "j['error'] == 'bad query argument'" GET "/api/v1/topics/$G/messages?limit=abc"
expect "GET .../messages?after=-1" 400 "j['error'] == 'bad query argument' and 'after' in j['detail']" GET "/api/v1/topics/$G/messages?after=-1"
expect "GET a topic that is no SIP URI" 400 "j['error'] == 'bad topic'" GET "/api/v1/topics/not%20a%20uri"
expect "POST .../messages without body" 400 "$ERR and 'body' in j['detail']" POST "/api/v1/topics/$G/messages" "${AUTH[@]}" -d '{"content_type":"text/plain"}'
expect "POST .../messages with an empty body" 400 "$ERR" POST "/api/v1/topics/$G/messages" "${AUTH[@]}" -d '{"body":""}'
expect "POST .../messages with a bad content_type" 400 "$ERR and 'content_type' in j['detail']" POST "/api/v1/topics/$G/messages" "${AUTH[@]}" -d '{"body":"x","content_type":"plain"}'
expect "POST .../messages with a bad from" 400 "$ERR and 'from' in j['detail']" POST "/api/v1/topics/$G/messages" "${AUTH[@]}" -d '{"body":"x","from":"nobody"}'
expect "POST .../messages with an unknown field" 400 "j['error'] == 'unknown field'" POST "/api/v1/topics/$G/messages" "${AUTH[@]}" -d '{"body":"x","to":"y"}'
expect "POST .../members with a member that is no SIP URI" 400 "$ERR" POST "/api/v1/topics/$G/members" "${AUTH[@]}" -d '{"member":"<x>"}'
expect "GET /subscriptions without topic or user" 400 "j['error'] == 'bad query argument'" GET /api/v1/subscriptions
expect "GET /subscriptions with both" 400 "j['error'] == 'bad query argument'" GET "/api/v1/subscriptions?topic=sip:a@example.com&user=sip:b@example.com"
expect "GET /subscriptions?user= not a SIP URI" 400 "$ERR" GET "/api/v1/subscriptions?user=http%3A%2F%2Fx"

# ---- 404, 409, 405 ----
expect "GET an unknown group" 404 "j['error'] == 'not found'" GET "/api/v1/topics/$G"
expect "GET the messages of an unknown group" 404 "j['error'] == 'not found'" GET "/api/v1/topics/$G/messages"
expect "DELETE an unknown group" 404 "j['error'] == 'not found'" DELETE "/api/v1/topics/$G" "${AUTH[@]}"
expect "POST .../members of an unknown group" 404 "j['error'] == 'not found'" POST "/api/v1/topics/$G/members" "${AUTH[@]}" -d '{"member":"a@example.com"}'
expect "create g1" 201 "j['topic'] == 'sip:g1-$prefix@$DOMAIN' and j['members'] == ['sip:a@example.com']" POST /api/v1/topics "${AUTH[@]}" -d "{\"topic\":\"g1-$prefix@$DOMAIN\",\"members\":[\"a@Example.COM\",\"sip:a@example.com\"]}"
expect "create g1 again" 409 "j['error'] == 'exists'" POST /api/v1/topics "${AUTH[@]}" -d "{\"topic\":\"sip:g1-$prefix@$DOMAIN\"}"
expect "DELETE a member that is not one" 404 "j['error'] == 'not found'" DELETE "/api/v1/topics/$G/members/b%40example.com" "${AUTH[@]}"
expect "PUT on a topic" 405 "j['error'] == 'method not allowed'" PUT "/api/v1/topics/$G" "${AUTH[@]}"
U="sip%3A${prefix}u%40$DOMAIN"
expect "a notice to a user topic" 201 "j['seq'] == 1" POST "/api/v1/topics/$U/messages" "${AUTH[@]}" -d '{"body":"hi"}'
expect "GET the user topic" 200 "j['kind'] == 'user' and j['last_seq'] == 1 and j['members'] == []" GET "/api/v1/topics/$U"
expect "DELETE a user topic" 409 "j['error'] == 'user topic'" DELETE "/api/v1/topics/$U" "${AUTH[@]}"
expect "a group over a user topic with messages" 409 "j['error'] == 'exists'" POST /api/v1/topics "${AUTH[@]}" -d "{\"topic\":\"sip:${prefix}u@$DOMAIN\"}"

# ---- the list, page by page ----
for i in 2 3; do
    expect "create g$i" 201 "j['kind'] == 'group'" POST /api/v1/topics "${AUTH[@]}" -d "{\"topic\":\"sip:g$i-$prefix@$DOMAIN\",\"members\":[\"a@example.com\",\"b@example.com\"]}"
done
expect "GET /topics" 200 "[t['topic'] for t in j['items']] == sorted(['sip:g1-$prefix@$DOMAIN', 'sip:g2-$prefix@$DOMAIN', 'sip:g3-$prefix@$DOMAIN', 'sip:${prefix}bob@$DOMAIN', 'sip:${prefix}u@$DOMAIN']) and j['next'] is None" GET /api/v1/topics
expect "GET /topics: kinds, seqs and member counts" 200 "{t['topic']: (t['kind'], t['last_seq'], t['members']) for t in j['items']}['sip:g2-$prefix@$DOMAIN'] == ('group', 0, 2) and {t['topic']: t['kind'] for t in j['items']}['sip:${prefix}u@$DOMAIN'] == 'user'" GET /api/v1/topics
expect "GET /topics?limit=2" 200 "len(j['items']) == 2 and j['next'].startswith('/api/v1/topics?limit=2&after=')" GET "/api/v1/topics?limit=2"
seen=$(python3 -c "import json; print(' '.join(t['topic'] for t in json.load(open('$T_DIR/body'))['items']))")
next=$(python3 -c "import json; print(json.load(open('$T_DIR/body'))['next'])")
while [ "$next" != None ]; do
    http GET "$next" >/dev/null
    seen="$seen $(python3 -c "import json; print(' '.join(t['topic'] for t in json.load(open('$T_DIR/body'))['items']))")"
    next=$(python3 -c "import json; print(json.load(open('$T_DIR/body'))['next'])")
done
want=$(printf '%s\n' "sip:g1-$prefix@$DOMAIN" "sip:g2-$prefix@$DOMAIN" "sip:g3-$prefix@$DOMAIN" \
    "sip:${prefix}bob@$DOMAIN" "sip:${prefix}u@$DOMAIN" | LC_ALL=C sort | xargs)
log "pages: $seen"
check "the pages together list every topic once, in order" test "$(echo $seen)" = "$want"
check "a malformed request does not stop the server" sip_ping udp "$SIP_HOST" "$SIP_PORT" 2
sipd_stop

# ---- a node without the broker role on the memory store: nobody can deliver a notice ----
sipd_start --roles registrar,proxy
expect "POST .../messages without a broker (memory store)" 409 "j['error'] == 'no broker on this node'" POST "/api/v1/topics/$U/messages" "${AUTH[@]}" -d '{"body":"hi"}'
sipd_stop
finish
