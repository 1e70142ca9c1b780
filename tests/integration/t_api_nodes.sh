#!/bin/bash
# t_api_nodes.sh - the REST API's node, registration and presence routes on the memory store
# (docs/api.md): a node row added, changed, drained, activated, its heartbeat history and its
# removal; invalid bodies refused with 400 {"error","detail"}; the bindings of a device that
# REGISTERed, listed, read and deleted (one contact, then all) -- after which a call to it gets
# 480, as after any unregistration; the composed PIDF and publications after a PUBLISH.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

sipd_start

. "$IT_DIR/api_lib.sh"

# ---- nodes ----
post "add a node" 201 "j['name'] == 'n9' and j['roles'] == ['registrar', 'proxy'] and j['status'] == 0 and j['state'] == 'down' and j['max_num'] == 40 and j['standby'] is True and j['last_heartbeat_ms'] is None" \
    /api/v1/nodes '{"name":"n9","address":"udp:127.0.0.1:5999","roles":["registrar","proxy"],"max_num":40,"standby":true}'
post "roles as \"a,b\"" 201 "j['roles'] == ['broker', 'proxy'] and j['max_num'] == 1000 and j['standby'] is False" \
    /api/v1/nodes '{"name":"n10","address":"tcp:127.0.0.1:5998","roles":"broker,proxy"}'
post "the same name again is 409" 409 "j['error'] == 'exists' and 'n9' in j['detail']" \
    /api/v1/nodes '{"name":"n9","address":"udp:127.0.0.1:5999","roles":["proxy"]}'
expect "the list has both, by nid" 200 "[n['name'] for n in j['items']] == ['n9', 'n10'] and j['next'] is None" GET /api/v1/nodes
post "malformed JSON is 400" 400 "j['error'] == 'malformed JSON' and j['detail']" /api/v1/nodes '{"name": '
post "an unknown field is 400" 400 "j['error'] == 'unknown field' and 'colour' in j['detail']" \
    /api/v1/nodes '{"name":"n11","address":"udp:127.0.0.1:5997","roles":["proxy"],"colour":"red"}'
post "a bad role is 400" 400 "$BAD and 'wizard' in j['detail']" \
    /api/v1/nodes '{"name":"n11","address":"udp:127.0.0.1:5997","roles":["proxy","wizard"]}'
post "a bad role in \"a,b\" is 400" 400 "$BAD and 'wizard' in j['detail']" \
    /api/v1/nodes '{"name":"n11","address":"udp:127.0.0.1:5997","roles":"proxy,wizard"}'
post "no roles at all is 400" 400 "$BAD" \
    /api/v1/nodes '{"name":"n11","address":"udp:127.0.0.1:5997","roles":[]}'
post "max_num 0 is 400" 400 "$BAD and 'max_num' in j['detail']" \
    /api/v1/nodes '{"name":"n11","address":"udp:127.0.0.1:5997","roles":["proxy"],"max_num":0}'
post "max_num as text is 400" 400 "$BAD and 'max_num' in j['detail']" \
    /api/v1/nodes '{"name":"n11","address":"udp:127.0.0.1:5997","roles":["proxy"],"max_num":"9"}'
post "a missing name is 400" 400 "$BAD and 'name' in j['detail']" \
    /api/v1/nodes '{"address":"udp:127.0.0.1:5997","roles":["proxy"]}'
post "a bad address is 400" 400 "$BAD and 'address' in j['detail']" \
    /api/v1/nodes '{"name":"n11","address":"somewhere","roles":["proxy"]}'
post "standby must be a boolean" 400 "$BAD and 'standby' in j['detail']" \
    /api/v1/nodes '{"name":"n11","address":"udp:127.0.0.1:5997","roles":["proxy"],"standby":"yes"}'
expect "nothing was added by the refused bodies" 404 "$BAD" GET /api/v1/nodes/n11
expect "a write needs the token" 401 "j['error'] == 'unauthorized'" POST /api/v1/nodes --data-binary '{}'

patch "PATCH max_num" 200 "j['max_num'] == 77 and j['standby'] is True" /api/v1/nodes/n9 '{"max_num":77}'
patch "PATCH standby false" 200 "j['max_num'] == 77 and j['standby'] is False" /api/v1/nodes/n9 '{"standby":false}'
patch "PATCH max_num -1 is 400" 400 "$BAD" /api/v1/nodes/n9 '{"max_num":-1}'
patch "PATCH an unknown field is 400" 400 "j['error'] == 'unknown field'" /api/v1/nodes/n9 '{"draining":true}'
patch "PATCH an unknown node is 404" 404 "$BAD" /api/v1/nodes/nosuch '{"max_num":5}'
expect "drain" 200 "j['draining'] is True" POST /api/v1/nodes/n9/drain "${AUTH[@]}"
expect "activate" 200 "j['draining'] is False and j['standby'] is False" POST /api/v1/nodes/n9/activate "${AUTH[@]}"
patch "standby again" 200 "j['standby'] is True" /api/v1/nodes/n9 '{"standby":true}'
expect "activate clears standby too" 200 "j['standby'] is False and j['draining'] is False" POST /api/v1/nodes/n9/activate "${AUTH[@]}"
expect "activate an unknown node is 404" 404 "$BAD" POST /api/v1/nodes/nosuch/activate "${AUTH[@]}"
expect "heartbeats of a node never probed: none" 200 "j['items'] == [] and j['next'] is None" GET /api/v1/nodes/n9/heartbeats
expect "heartbeats ?limit=0 is 400" 400 "$BAD" GET '/api/v1/nodes/n9/heartbeats?limit=0'
expect "heartbeats of an unknown node is 404" 404 "$BAD" GET /api/v1/nodes/nosuch/heartbeats
expect "DELETE a node that is down" 204 "j is None" DELETE /api/v1/nodes/n9 "${AUTH[@]}"
expect "... it is gone" 404 "$BAD" GET /api/v1/nodes/n9
expect "DELETE it again is 404" 404 "$BAD" DELETE /api/v1/nodes/n9 "${AUTH[@]}"

# ---- registrations ----
U1=$(new_user api)
U2=$(new_user apib)
check "$U1 registers two contacts" px_reg register udp "$SIP_HOST" "$SIP_PORT" --user "$U1" \
    --domain "$DOMAIN" --contact "<sip:$U1@127.0.0.1:9>" --contact "<sip:$U1@127.0.0.1:10>;q=0.5" --expires 300
check "$U2 registers" px_reg register udp "$SIP_HOST" "$SIP_PORT" --user "$U2" \
    --domain "$DOMAIN" --contact "<sip:$U2@127.0.0.1:11>" --expires 300
A1=sip:$U1@$DOMAIN
A2=sip:$U2@$DOMAIN
expect "the list names both AORs with their counts" 200 "{i['aor']: i['bindings'] for i in j['items']} == {'$A1': 2, '$A2': 1} and j['next'] is None" \
    GET /api/v1/registrations
expect "a page of one says where the next starts" 200 "len(j['items']) == 1 and j['next'].startswith('/api/v1/registrations?limit=1&after=')" \
    GET '/api/v1/registrations?limit=1'
NEXT=$(python3 -c "import json; print(json.load(open('$T_DIR/body'))['next'])")
FIRST=$(python3 -c "import json; print(json.load(open('$T_DIR/body'))['items'][0]['aor'])")
expect "... and the next page has the other, and no next" 200 "len(j['items']) == 1 and j['items'][0]['aor'] != '$FIRST' and j['next'] is None" GET "$NEXT"
expect "?limit=5000 is 400" 400 "$BAD" GET '/api/v1/registrations?limit=5000'
expect "GET an AOR (percent-encoded): its bindings" 200 "j['aor'] == '$A1' and len(j['bindings']) == 2 and j['bindings'][0]['contact'] == 'sip:$U1@127.0.0.1:9' and j['bindings'][1]['q'] == 0.5 and j['bindings'][0]['transport'] == 'udp' and 0 < j['bindings'][0]['expires_s'] <= 300 and j['bindings'][0]['call_id'] and j['bindings'][0]['path'] == []" \
    GET "/api/v1/registrations/sip%3A$U1%40$DOMAIN"
expect "GET an AOR without the scheme" 200 "j['aor'] == '$A1'" GET "/api/v1/registrations/$U1%40$DOMAIN"
expect "GET an AOR without bindings is 404" 404 "$BAD" GET "/api/v1/registrations/nobody%40$DOMAIN"
expect "GET something that is no AOR is 400" 400 "$BAD" GET "/api/v1/registrations/tel%3A123"
expect "DELETE one contact" 204 "j is None" DELETE "/api/v1/registrations/sip%3A$U1%40$DOMAIN?contact=sip%3A$U1%40127.0.0.1%3A10" "${AUTH[@]}"
expect "... the other stays" 200 "[b['contact'] for b in j['bindings']] == ['sip:$U1@127.0.0.1:9']" GET "/api/v1/registrations/sip%3A$U1%40$DOMAIN"
expect "DELETE a contact it does not have is 404" 404 "$BAD" DELETE "/api/v1/registrations/sip%3A$U1%40$DOMAIN?contact=sip%3Ax%40127.0.0.1" "${AUTH[@]}"
expect "DELETE all of an AOR" 204 "j is None" DELETE "/api/v1/registrations/sip%3A$U2%40$DOMAIN" "${AUTH[@]}"
expect "... gone from GET" 404 "$BAD" GET "/api/v1/registrations/sip%3A$U2%40$DOMAIN"
expect "... and from the list" 200 "[i['aor'] for i in j['items']] == ['$A1']" GET /api/v1/registrations
expect "DELETE it again is 404" 404 "$BAD" DELETE "/api/v1/registrations/sip%3A$U2%40$DOMAIN" "${AUTH[@]}"
expect "DELETE without the token is 401" 401 "$BAD" DELETE "/api/v1/registrations/sip%3A$U1%40$DOMAIN"
px_call "a call to the AOR whose bindings the API removed gets 480" udp --to "$U2" --expect 480 \
    --expect-100 --name "480 after api delete"

# ---- presence ----
P1=$(new_user pres)
cat >"$T_DIR/publish.py" <<PY
import sys
sys.path.insert(0, "$IT_DIR/py")
from presence_common import publish, pidf
from sipclient import Conn
c = Conn("udp", "$SIP_HOST", $SIP_PORT)
req, r = publish(c, "$P1", domain="$DOMAIN", expires=120,
                 body=pidf("sip:$P1@$DOMAIN", [("t1", "open", "at the desk")]).encode())
sys.exit(0 if r is not None and r.status == 200 else 1)
PY
expect "presence of an AOR that published nothing is 404" 404 "$BAD" GET "/api/v1/presence/sip%3A$P1%40$DOMAIN"
check "$P1 publishes an open PIDF" timeout 20 "$PYTHON" "$T_DIR/publish.py"
expect "presence: the composed document and the publication" 200 "j['aor'] == 'sip:$P1@$DOMAIN' and '<basic>open</basic>' in j['document'] and 'at the desk' in j['document'] and len(j['publications']) == 1 and j['publications'][0]['etag'] and 0 < j['publications'][0]['expires_s'] <= 120 and j['publications'][0]['content_type'] == 'application/pidf+xml' and 't1' in j['publications'][0]['body']" \
    GET "/api/v1/presence/sip%3A$P1%40$DOMAIN"
check "... the document is well-formed PIDF" python3 -c "import json,xml.etree.ElementTree as E; r=E.fromstring(json.load(open('$T_DIR/body'))['document']); assert r.tag.endswith('presence')"
expect "presence of something that is no AOR is 400" 400 "$BAD" GET "/api/v1/presence/http%3A%2F%2Fx"
expect "presence is read-only: DELETE is 405" 405 "$BAD" DELETE "/api/v1/presence/sip%3A$P1%40$DOMAIN" "${AUTH[@]}"

check "sipd still answers SIP" sip_ping udp "$SIP_HOST" "$SIP_PORT" 2
sipd_stop
finish
