#!/bin/bash
# t_pg_webui.sh - the status page (webui-static/, served at / by the API, docs/api.md) in headless
# Chromium against a running cluster on PostgreSQL: balancer lb1 and nodes n1, n2, each with its
# API (--api, api.token). The page is loaded once from lb1 and never reloaded:
#   - it lists the three nodes with state, load, heartbeat age and a round-trip chart, and says
#     its event stream is live;
#   - n1 drained through the API (another node's) turns draining/drained in its row;
#   - n1 activated with the page's own button: the token dialog, a wrong token asked again (401);
#   - n2 killed (SIGKILL) turns down within the heartbeat bound;
#   - a screenshot at desktop size and one at phone size (rows become cards) are kept in the log
#     directory (t_pg_webui.png, t_pg_webui-phone.png);
#   - lb1 stopped: the reconnect banner; lb1 back on the same address: the page is live again
#     (the token is stored by then: the stream is read through fetch());
#   - from balancer lb2 with api.read_auth = yes: the page asks for the token, then lists the
#     nodes and follows the event stream with it.
# Chromium is driven through the DevTools protocol by py/webui_cdp.py (python3-websocket).
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/cluster_lib.sh"
. "$IT_DIR/api_lib.sh"

ART_DIR=${SIPD_TEST_LOGDIR:-$T_DIR}
CHROME_DIR=$T_DIR/chrome
# a node is down ~3 heartbeats after it stops answering (cluster_lib.sh); the page adds the event
# stream's latency: 5 s is the bound a page must meet
DOWN_BOUND_S=5

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser)}
[ -n "$CHROMIUM" ] || bail "chromium not installed (packaging/install-deps.sh installs it)"
CDP_PY=
for py in "$PYTHON" /usr/bin/python3; do
    if "$py" -c 'import websocket' 2>/dev/null; then CDP_PY=$py; break; fi
done
[ -n "$CDP_PY" ] || bail "no python3 with the websocket module (Debian python3-websocket)"

pg_require
pg_new_db

# api_url NAME PATH: a URL of node NAME's API (node_start gives each node --api on its own port,
# kept across restarts, and api.token=$API_TOKEN)
api_url() { printf 'http://%s:%s%s' "$SIP_HOST" "${NODE_API[$1]}" "$2"; }
api_ok() { curl -sf --max-time 2 -o /dev/null "$(api_url "$1" "$2")"; }
# node_up_in_api NAME: lb1's GET /api/v1/nodes has NAME with up true
node_up_in_api() {
    curl -sf --max-time 2 "$(api_url lb1 /api/v1/nodes)" | "$CDP_PY" -c '
import json, sys
body = json.load(sys.stdin)
items = body["items"] if isinstance(body, dict) else body
sys.exit(0 if any(n["name"] == sys.argv[1] and n["up"] for n in items) else 1)' "$1"
}
# cdp COMMAND ARGS...: one step in the browser (py/webui_cdp.py), bounded
cdp() { timeout -k 2 60 "$CDP_PY" "$IT_DIR/py/webui_cdp.py" "$CHROME_DIR" "$@"; }
# state_js NAME: a JS expression, the state shown in NAME's row (undefined while no such row)
state_js() { printf "document.querySelector('[data-node=\"%s\"] [data-field=\"state\"]')?.dataset.state" "$1"; }
# state_is NAME STATE...: NAME's row shows one of the STATEs, within 5 s
state_is() {
    local n=$1
    shift
    cdp wait "$(printf '"%s",' "$@" | sed 's/^/[/; s/,$/]/').includes($(state_js "$n"))" 5
}
# not_reloaded: the page loaded by `cdp open` is still the same document (exit 1 from `reloaded`)
not_reloaded() { cdp reloaded; [ $? -eq 1 ]; }
# click_asks_token SELECTOR: clicking the button opens the token dialog
click_asks_token() { cdp click "$1" && cdp wait "document.getElementById('token-dialog').open" 3; }
is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }

# ---- the cluster ----
node_start n1 registrar,proxy
node_start n2 registrar,proxy
node_start lb1 balancer
cl_wait "lb1's API answers /healthz" 5 api_ok lb1 /healthz
cl_wait "lb1's API lists n1 up" 5 node_up_in_api n1
cl_wait "lb1's API lists n2 up" 5 node_up_in_api n2
check "the status page is served at / by the API" api_ok lb1 /
check "its script is served too" api_ok lb1 /app.js

# ---- the browser: as root Chromium needs --no-sandbox; DevTools on a port of its choosing ----
mkdir -p "$CHROME_DIR"
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
    --no-default-browser-check --disable-extensions --window-size=1200,800 \
    --remote-debugging-port=0 --user-data-dir="$CHROME_DIR" about:blank >"$T_DIR/chromium.log" 2>&1 &
CHROME_PID=$!
track_pid "$CHROME_PID"
cl_wait "Chromium writes DevToolsActivePort" 20 test -s "$CHROME_DIR/DevToolsActivePort" ||
    bail "no DevTools port (log: $T_DIR/chromium.log)"

check "the page loads from lb1" cdp open "$(api_url lb1 /)"
check "the page lists n1, n2 and lb1" \
    cdp wait "['n1','n2','lb1'].every(n => document.querySelector('[data-node=\"' + n + '\"]'))" 10
check "every resource the page loaded came from its own origin" \
    cdp wait "performance.getEntriesByType('resource').every(e => e.name.startsWith(location.origin + '/'))" 1
check "the event stream is live" cdp wait "document.body.dataset.stream === 'open'" 5
check "n1 and n2 show active" state_is n1 active
check "... n2 too" state_is n2 active
check "n1's load cell shows work / max" \
    cdp wait "/^\\d+ \\/ \\d+\$/.test(document.querySelector('[data-node=\"n1\"] [data-field=\"load\"]').textContent)" 3
check "n1's heartbeat age ticks (a beat seen)" \
    cdp wait "/ago\$/.test(document.querySelector('[data-node=\"n1\"] [data-field=\"age\"]').textContent)" 5
check "heartbeat events arrive on the stream" cdp wait "document.body.dataset.beats > 0" 5
check "n1's round-trip chart has points" \
    cdp wait "document.querySelector('[data-node=\"n1\"] [data-field=\"rtt\"] svg polyline') !== null" 5
check "the counts show a number or –" cdp wait "['registrations','topics','subscriptions'].every(k =>
    /^(\\d+|–)\$/.test(document.querySelector('[data-stat=\"' + k + '\"]').textContent))" 3

# ---- drain n1 with sipctl through n2's API (the change travels through the database to lb1) ----
SIPCTL=${SIPCTL:-$top_builddir/ctl/sipctl}
check "sipctl node drain n1 (through n2's API)" \
    timeout 30 "$SIPCTL" --url "$(api_url n2 '')" --token "$API_TOKEN" node drain n1
check "n1's row turns draining or drained, live" state_is n1 draining drained
check "... without a reload" not_reloaded

# ---- activate n1 with the page's button: a wrong token is asked again ----
check "n1's row offers Activate" cdp wait "!document.querySelector('[data-node=\"n1\"] [data-action=\"activate\"]').hidden" 3
check "clicking Activate asks for the token" click_asks_token '[data-node="n1"] [data-action="activate"]'
cdp type '#token-input' wrong-token && cdp key Enter
check "a wrong token (401) asks again, saying so" \
    cdp wait "document.getElementById('token-dialog').open && /refused/.test(document.getElementById('token-why').textContent)" 5
cdp type '#token-input' "$API_TOKEN" && cdp key Enter
check "the right token activates n1" state_is n1 active
check "the token is kept for the session" cdp wait "sessionStorage.getItem('sipd.api.token') === '$API_TOKEN'" 2
check "the change is announced (aria-live)" cdp wait "/n1 is active/.test(document.getElementById('announce').textContent)" 2

# ---- kill n2: down within the bound ----
node_kill n2
check "n2 killed: its row turns down within ${DOWN_BOUND_S} s" \
    cdp wait "$(state_js n2) === 'down'" "$DOWN_BOUND_S"
check "... without a reload" not_reloaded
check "the page threw no error" cdp wait "window.__webuiErrors.length === 0" 1

# ---- screenshots, kept as artifacts ----
sleep 1   # a few more beats in the charts
check "screenshot saved ($ART_DIR/$T_NAME.png)" cdp screenshot "$ART_DIR/$T_NAME.png"
check "... a PNG" is_png "$ART_DIR/$T_NAME.png"
check "at phone size the rows are cards ($ART_DIR/$T_NAME-phone.png)" cdp screenshot "$ART_DIR/$T_NAME-phone.png" \
    390 844 "getComputedStyle(document.querySelector('[data-node=\"n1\"]')).display === 'block'"

# ---- the stream drops and comes back ----
check "lb1 stops cleanly" node_stop lb1
check "the reconnect banner shows" \
    cdp wait "!document.getElementById('banner').hidden && document.body.dataset.stream === 'lost'" 5
node_start lb1 balancer
check "lb1 back: the page is live again, banner gone" \
    cdp wait "document.getElementById('banner').hidden && document.body.dataset.stream === 'open'" 20
check "... still without a reload" not_reloaded

# ---- a balancer whose API needs the token for reads too (api.read_auth): the page asks for it ----
node_start lb2 balancer --set api.read_auth=yes
check "lb2 (api.read_auth) refuses reads without the token (401)" \
    test "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$(api_url lb2 /api/v1/nodes)")" = 401
check "the page from lb2 loads" cdp open "$(api_url lb2 /)"
check "... and asks for the token to read" cdp wait \
    "document.getElementById('token-dialog').open && /read_auth/.test(document.getElementById('token-why').textContent)" 10
cdp type '#token-input' "$API_TOKEN" && cdp key Enter
check "with the token it lists the nodes" \
    cdp wait "['n1','lb1','lb2'].every(n => document.querySelector('[data-node=\"' + n + '\"]'))" 10
check "... its event stream (read through fetch with the token) is live" \
    cdp wait "document.body.dataset.stream === 'open'" 10
check "... and brings heartbeat events" cdp wait "document.body.dataset.beats > 0" 10
check "the page threw no error" cdp wait "window.__webuiErrors.length === 0" 1
check "lb2 stops cleanly" node_stop lb2

check "n1 stops cleanly" node_stop n1
check "lb1 stops cleanly" node_stop lb1
kill -TERM "$CHROME_PID" 2>/dev/null
for _ in $(seq 1 50); do kill -0 "$CHROME_PID" 2>/dev/null || break; sleep 0.1; done
finish
