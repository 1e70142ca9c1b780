# api_lib.sh - curl helpers for the REST API tests (docs/api.md). Source it after lib.sh; the
# requests go to $API_URL (sipd_start sets it; a cluster test sets it per node) with $API_TOKEN.
#
#   expect "GET /healthz" 200 "j == {'status': 'ok'}" GET /healthz
#   post "add a node" 201 "j['name'] == 'n9'" /api/v1/nodes '{"name":"n9",...}'
# shellcheck shell=bash

AUTH=(-H "Authorization: Bearer $API_TOKEN")
JSON=(-H "Content-Type: application/json")
BAD="j['error'] and j['detail']"  # what every error body must have

# http METHOD PATH [CURL ARGS...]: prints "STATUS BODY"; the body is left in $T_DIR/body. PATH
# is relative to $API_URL, or a whole http:// URL (another node's API).
http() {
    local m=$1 p=$2
    shift 2
    case $p in http://*) ;; *) p=$API_URL$p ;; esac
    curl -s --max-time 10 -o "$T_DIR/body" -w '%{http_code}' -X "$m" "$@" "$p" >"$T_DIR/code"
    printf '%s %s' "$(cat "$T_DIR/code")" "$(cat "$T_DIR/body")"
}

# expect WHAT STATUS PYTHON-EXPR METHOD PATH [CURL ARGS]: the status matches and the python
# expression over the parsed JSON body `j` is true (j is None for an empty body).
expect() {
    local what=$1 want=$2 expr=$3 out code
    shift 3
    out=$(http "$@")
    code=${out%% *}
    log "$* -> $out"
    check "$what: status $want (got $code)" test "$code" = "$want"
    check "$what: body" python3 -c "import json,sys; s=open('$T_DIR/body').read(); j=json.loads(s) if s else None; sys.exit(0 if ($expr) else 1)"
}

# post/patch WHAT STATUS PYTHON-EXPR PATH BODY: a write with the token and a JSON body.
post() { expect "$1" "$2" "$3" POST "$4" "${AUTH[@]}" "${JSON[@]}" --data-binary "$5"; }
patch() { expect "$1" "$2" "$3" PATCH "$4" "${AUTH[@]}" "${JSON[@]}" --data-binary "$5"; }
