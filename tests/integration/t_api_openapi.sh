#!/bin/bash
# t_api_openapi.sh - api/openapi.yaml and the routes sipd serves agree, both ways (docs/api.md):
# the document against api/routes.c's table (py/openapi_routes.py: every served route
# documented, every documented route served, the document sound: $refs, path parameters, a 2xx
# per operation, the bearer token on writes); then against the running daemon: every documented
# route answers with something other than "no such route" or 405 (writes are sent without the
# token, so nothing changes: 401 proves the route exists).
. "$(dirname "$0")/lib.sh"

SRC=${top_srcdir:-$IT_DIR/../..}
check "openapi.yaml and api/routes.c agree" "$PYTHON" "$IT_DIR/py/openapi_routes.py" \
    "$SRC/api/routes.c" "$SRC/api/openapi.yaml"
"$PYTHON" "$IT_DIR/py/openapi_routes.py" "$SRC/api/routes.c" "$SRC/api/openapi.yaml" | sed 's/^/# /'

sipd_start
"$PYTHON" "$IT_DIR/py/openapi_routes.py" --list "$SRC/api/openapi.yaml" >"$T_DIR/routes"
check "the document lists routes" test -s "$T_DIR/routes"
# route_served METHOD PATH: the daemon knows the route (path parameters filled with "x")
route_served() {
    local m=$1 p code
    p=$(sed -E 's/\{[^}/]+\}/x/g' <<<"$2")
    code=$(curl -s --max-time 2 -o "$T_DIR/live.body" -w '%{http_code}' -X "$m" "$API_URL$p")
    log "$m $p -> $code $(head -c 200 "$T_DIR/live.body")"
    [ "$code" != 405 ] || return 1
    [ "$code" != 404 ] && return 0
    ! grep -q '"detail":"no such \(route\|file\)' "$T_DIR/live.body"
}
while read -r m p; do
    check "served by the daemon: $m $p" route_served "$m" "$p"
done <"$T_DIR/routes"
sipd_stop
finish
