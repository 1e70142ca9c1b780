#!/bin/bash
# t_im_lifecycle.sh - subscription life cycle: a closed connection makes the subscription wait
# (202 to publishers, no connection re-opened), a refresh over a new connection revives it with
# what was missed; Expires runs out -> terminated;reason=timeout; 481 ends it; SIGTERM ends every
# subscription with terminated;reason=deactivated. TCP. Client: py/im_lifecycle.py.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

sipd_start --set broker.im_min_expires=1
check "waiting on a closed flow, refresh, expiry, 481 (py/im_lifecycle.py flow)" \
    run_py im_lifecycle.py flow "$SIP_HOST" "$SIP_PORT" "$(new_user l)"
ready=$T_DIR/ready
px_py_bg sd im_lifecycle.py shutdown "$SIP_HOST" "$SIP_PORT" "$(new_user l)" "$ready"
for _ in $(seq 1 50); do [ -s "$ready" ] && break; sleep 0.1; done
check "the shutdown client subscribed" test -s "$ready"
sipd_stop
px_bg_ok "SIGTERM: terminated;reason=deactivated (py/im_lifecycle.py shutdown)" sd
finish
