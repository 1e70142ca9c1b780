#!/bin/bash
# t_pg_api_topics.sh - the REST API's topics, members, messages and subscriptions on PostgreSQL
# (docs/api.md "Topics, subscriptions, messages"): a broker node b1 and a node r1 without the
# broker role share one database. Through b1's API: the group, notices, members and page mode of
# py/api_topics.py. Then again with the notices posted through r1's API (stored there, delivered
# by b1 through the store's announcement) and the subscriptions read through r1 too (the rows b1
# keeps, with the device's acknowledged seq); and the same invalid-input answers as on memory.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/cluster_lib.sh"

pg_require
pg_new_db
node_start b1 registrar,proxy,broker
node_start r1 registrar,proxy
B1=http://$SIP_HOST:${NODE_API[b1]}
R1=http://$SIP_HOST:${NODE_API[r1]}

check "through the broker node's API (py/api_topics.py)" \
    run_py api_topics.py tcp "$SIP_HOST" "${NODE_PORT[b1]}" "$B1" "$API_TOKEN" "$(new_user pa)"
check "notices posted and subscriptions read through a node without the broker role" \
    run_py api_topics.py tcp "$SIP_HOST" "${NODE_PORT[b1]}" "$B1" "$API_TOKEN" "$(new_user pb)" "$R1" "$R1"

. "$IT_DIR/api_lib.sh" # expect WHAT STATUS EXPR METHOD URL: here with whole URLs
prefix=$(new_user pc)
G="sip%3Ag-$prefix%40$DOMAIN"
expect "create a group through r1" 201 "j['members'] == ['sip:a@example.com']" POST "$R1/api/v1/topics" "${AUTH[@]}" -d "{\"topic\":\"sip:g-$prefix@$DOMAIN\",\"members\":[\"a@example.com\"]}"
expect "b1 sees it" 200 "j['kind'] == 'group' and j['members'] == ['sip:a@example.com']" GET "$B1/api/v1/topics/$G"
expect "create it again through b1" 409 "j['error'] == 'exists'" POST "$B1/api/v1/topics" "${AUTH[@]}" -d "{\"topic\":\"sip:g-$prefix@$DOMAIN\"}"
expect "add a member through b1" 200 "sorted(j['members']) == ['sip:a@example.com', 'sip:b@example.com']" POST "$B1/api/v1/topics/$G/members" "${AUTH[@]}" -d '{"member":"sip:b@example.com"}'
expect "remove one that is not a member" 404 "j['error'] == 'not found'" DELETE "$R1/api/v1/topics/$G/members/c%40example.com" "${AUTH[@]}"
expect "a notice through r1" 201 "j['seq'] == 1" POST "$R1/api/v1/topics/$G/messages" "${AUTH[@]}" -d '{"body":"one","from":"sip:ops@example.com"}'
expect "a notice through b1" 201 "j['seq'] == 2" POST "$B1/api/v1/topics/$G/messages" "${AUTH[@]}" -d '{"body":"two"}'
expect "messages through r1, one per page" 200 "[m['seq'] for m in j['items']] == [1] and j['items'][0]['from'] == 'sip:ops@example.com' and j['next'].endswith('after=1&limit=1')" GET "$R1/api/v1/topics/$G/messages?limit=1"
expect "GET /topics lists it with its seq and members" 200 "{t['topic']: (t['kind'], t['last_seq'], t['members']) for t in j['items']}.get('sip:g-$prefix@$DOMAIN') == ('group', 2, 2)" GET "$B1/api/v1/topics?limit=1000"
expect "malformed JSON" 400 "j['error'] == 'malformed JSON'" POST "$R1/api/v1/topics" "${AUTH[@]}" -d '{'
expect "unknown field" 400 "j['error'] == 'unknown field'" POST "$R1/api/v1/topics/$G/members" "${AUTH[@]}" -d '{"members":"a@example.com"}'
expect "not a SIP URI" 400 "'error' in j and 'detail' in j" GET "$R1/api/v1/subscriptions?topic=mailto%3Ax"
expect "limit out of range" 400 "j['error'] == 'bad query argument'" GET "$R1/api/v1/topics/$G/messages?limit=1001"
expect "DELETE through r1" 204 "j is None" DELETE "$R1/api/v1/topics/$G" "${AUTH[@]}"
expect "then it is 404 on b1" 404 "j['error'] == 'not found'" GET "$B1/api/v1/topics/$G"
node_stop b1
rc=$?
check "b1 stops cleanly (got $rc)" test "$rc" = 0
node_stop r1
rc=$?
check "r1 stops cleanly (got $rc)" test "$rc" = 0
finish
