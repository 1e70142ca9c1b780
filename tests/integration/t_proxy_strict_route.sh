#!/bin/bash
# t_proxy_strict_route.sh - strict routing through the proxy (RFC 3261 §16.4, §16.6 step 6): a
# strict-routing next hop gets the Request-URI (the old one goes last in Route), a strict-routing
# previous hop's request (our Record-Route in the Request-URI) gets its real Request-URI back
# from the last Route. MESSAGE (stateful) and ACK (stateless). UDP. Python client py/proxy_strict.py.
. "$(dirname "$0")/lib.sh"

# the proxy role alone: with the broker, a MESSAGE routed to us would be the broker's
sipd_start --roles registrar,proxy
check "strict routing: what reaches the next hop (py/proxy_strict.py)" \
    run_py proxy_strict.py "$SIP_HOST" "$SIP_PORT"
sipd_stop
finish
