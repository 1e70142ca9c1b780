#!/bin/bash
# t_pg_api_nodes.sh - the node routes of the REST API on PostgreSQL with a balancer and two
# nodes (docs/api.md "Nodes", docs/cluster.md): a row added through POST reaches the balancer at
# once (LISTEN sipd_nodes) and its heartbeats probe it; the node then started at that address is
# seen up; drain through the API: the node's GET shows it draining/drained and new calls avoid it;
# activate brings it back; PATCH max_num reaches the table; DELETE is refused while the node is up
# and allowed once it stopped; heartbeat history with round trips; registrations made on one node
# listed through another node's API (one shared location service).
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"
. "$IT_DIR/cluster_lib.sh"

pg_require
pg_new_db
node_start pa registrar,proxy
node_start pb registrar,proxy
node_start lb1 balancer
cl_wait "the balancer sees pa and pb" 5 log_has lb1 "node pb .* joins the table status=1"
LB=http://$SIP_HOST:${NODE_API[lb1]}
PA=http://$SIP_HOST:${NODE_API[pa]}
. "$IT_DIR/api_lib.sh"

# api URL METHOD PATH [CURL ARGS]: the body to $T_DIR/body, prints the status
api() {
    local url=$1 m=$2 p=$3
    shift 3
    http "$m" "$url$p" "$@" >/dev/null
    cat "$T_DIR/code"
}
# expect_at WHAT STATUS PYTHON-EXPR URL METHOD PATH [CURL ARGS]: expect, on the API at URL
expect_at() {
    local what=$1 want=$2 expr=$3 url=$4 m=$5 p=$6
    shift 6
    expect "$what" "$want" "$expr" "$m" "$url$p" "$@"
}
# node_is NAME PYTHON-EXPR: the node's GET (lb1's API) satisfies the expression over `j`
node_is() {
    [ "$(api "$LB" GET "/api/v1/nodes/$1")" = 200 ] &&
        python3 -c "import json,sys; j=json.load(open('$T_DIR/body')); sys.exit(0 if ($2) else 1)"
}
nid() { node_col "$1" nid; }
sent() {
    awk -v t="${2:-0}" 'substr($0,1,23) > t' "${NODE_LOG[lb1]}" | grep -c "edge: INVITE to node nid=$(nid "$1")\b"
}
now_log() { date -u +%Y-%m-%dT%H:%M:%S.%3N; }

# ---- add: the row reaches the balancer at once, down until its heartbeats find the node ----
NODE_PORT[pc]=$(pick_port)
expect_at "POST a node row" 201 "j['name'] == 'pc' and j['status'] == 0 and j['state'] == 'down' and j['roles'] == ['proxy'] and j['max_num'] == 50" \
    "$LB" POST /api/v1/nodes "${AUTH[@]}" --data-binary "{\"name\":\"pc\",\"address\":\"udp:$SIP_HOST:${NODE_PORT[pc]}\",\"roles\":\"proxy\",\"max_num\":50}"
cl_wait "the balancer has the new row within 1 s (LISTEN)" 1 log_has lb1 "node pc \(udp:$SIP_HOST:${NODE_PORT[pc]}, proxy\) joins the table status=0"
expect_at "POST the same name on another node's API is 409" 409 "j['error'] == 'exists'" \
    "$PA" POST /api/v1/nodes "${AUTH[@]}" --data-binary "{\"name\":\"pc\",\"address\":\"udp:$SIP_HOST:1\",\"roles\":[\"proxy\"]}"
cl_wait "the balancer probes the added row: missed beats in its history" 3 \
    q_ge "select count(*) from heartbeats h join nodes n using (nid) where n.name = 'pc' and not h.ok" 1
expect_at "its heartbeats through the API: misses, no round trip" 200 "len(j['items']) >= 1 and all(not b['ok'] and b['rtt_ms'] is None and b['work_num'] is None for b in j['items'])" \
    "$LB" GET /api/v1/nodes/pc/heartbeats
node_start pc proxy
cl_wait "the node started at that address is seen up" 3 node_is pc "j['up'] and j['state'] == 'active' and j['rtt_ms'] is not None"

# ---- heartbeats ----
expect_at "pa's heartbeats: newest first, answered, with round trips and load" 200 "len(j['items']) >= 2 and j['items'][0]['at_ms'] >= j['items'][1]['at_ms'] and all(b['ok'] and b['rtt_ms'] is not None and b['work_num'] is not None for b in j['items']) and j['next'] is None" \
    "$LB" GET /api/v1/nodes/pa/heartbeats
expect_at "?limit=2" 200 "len(j['items']) == 2" "$LB" GET '/api/v1/nodes/pa/heartbeats?limit=2'

# ---- drain and activate ----
SIP_PORT=${NODE_PORT[lb1]}
cl_host_uas 120
expect_at "drain pa through the API" 200 "j['draining'] is True and j['state'] in ('draining', 'drained')" "$LB" POST /api/v1/nodes/pa/drain "${AUTH[@]}"
cl_wait "the balancer applies the drain live" 2 log_has lb1 "node pa is draining"
drained_at=$(grep -m1 "node pa is draining" "${NODE_LOG[lb1]}" | cut -c1-23)
cl_wait "pa's GET shows it drained" 3 node_is pa "j['draining'] and j['state'] == 'drained' and j['work_num'] == 0"
# pa's own /readyz: not ready while it drains (what an external load balancer probes)
readyz_is() { # URL CODE REASON-ERE
    [ "$(curl -s --max-time 5 -o "$T_DIR/ready" -w '%{http_code}' "$1/readyz")" = "$2" ] &&
        grep -Eq "$3" "$T_DIR/ready"
}
cl_wait "pa's /readyz: 503 drained" 3 readyz_is "$PA" 503 '"reason":"(draining|drained)"'
check "... the balancer's /readyz: 200" readyz_is "$LB" 200 '"ready":true'
sipp_ok "20 calls through the balancer while pa drains" drain cluster_uac.xml udp -m 20 -r 20 -s d1 -key target "$target"
check "no call went to pa after the drain (got $(sent pa "$drained_at"))" test "$(sent pa "$drained_at")" -eq 0
expect_at "activate pa through its own API" 200 "j['draining'] is False and j['standby'] is False and j['state'] == 'active'" \
    "$PA" POST /api/v1/nodes/pa/activate "${AUTH[@]}"
cl_wait "the balancer applies the activation live" 2 log_has lb1 "node pa is no longer draining"
cl_wait "pa's /readyz: 200 again" 3 readyz_is "$PA" 200 '"ready":true'
t1=$(now_log)
sipp_ok "20 calls after the activation" act cluster_uac.xml udp -m 20 -r 20 -s a1 -key target "$target"
check "pa takes calls again (got $(sent pa "$t1"))" test "$(sent pa "$t1")" -ge 1

# ---- PATCH ----
expect_at "PATCH pb's max_num" 200 "j['max_num'] == 300" "$LB" PATCH /api/v1/nodes/pb "${AUTH[@]}" --data-binary '{"max_num":300}'
check "... in the table" q_is "select max_num from nodes where name = 'pb'" 300
expect_at "PATCH with a bad max_num is 400" 400 "j['error'] and 'max_num' in j['detail']" "$LB" PATCH /api/v1/nodes/pb "${AUTH[@]}" --data-binary '{"max_num":0}'

# ---- registrations through another node's API ----
U=$(new_user pgapi)
check "$U registers on pa" px_reg register udp "$SIP_HOST" "${NODE_PORT[pa]}" --user "$U" \
    --domain "$DOMAIN" --contact "<sip:$U@127.0.0.1:9>" --expires 300
expect_at "lb1's API lists the AOR (one location service)" 200 "{'aor': 'sip:$U@$DOMAIN', 'bindings': 1} in j['items']" "$LB" GET /api/v1/registrations
expect_at "... and its binding" 200 "j['bindings'][0]['contact'] == 'sip:$U@127.0.0.1:9' and j['bindings'][0]['node'] in ('pa', 'pb')" "$LB" GET "/api/v1/registrations/sip%3A$U%40$DOMAIN"
expect_at "DELETE it through pb's API" 204 "j is None" "http://$SIP_HOST:${NODE_API[pb]}" DELETE "/api/v1/registrations/sip%3A$U%40$DOMAIN" "${AUTH[@]}"
check "... gone from the table" q_is "select count(*) from locations where aor = 'sip:$U@$DOMAIN'" 0

# ---- DELETE ----
expect_at "DELETE pb while it is up is 409" 409 "j['error'] == 'node is up' and 'drain' in j['detail']" "$LB" DELETE /api/v1/nodes/pb "${AUTH[@]}"
check "pb stops cleanly" node_stop pb
cl_wait "pb's row says down" 3 q_is "select status from nodes where name = 'pb'" 0
expect_at "DELETE pb once stopped" 204 "j is None" "$LB" DELETE /api/v1/nodes/pb "${AUTH[@]}"
cl_wait "the balancer drops it at once" 2 log_has lb1 "node pb left the table"
check "... with its heartbeat history" q_is "select count(*) from heartbeats h where not exists (select 1 from nodes n where n.nid = h.nid)" 0
expect_at "pb is gone from the API" 404 "j['error'] == 'not found'" "$LB" GET /api/v1/nodes/pb

check "pc stops cleanly" node_stop pc
check "pa stops cleanly" node_stop pa
check "lb1 stops cleanly" node_stop lb1
finish
