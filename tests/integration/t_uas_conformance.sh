#!/bin/bash
# t_uas_conformance.sh - where sipd is the UAS: RFC 3261 §7.1 (SIP-Version case), §8.2 (405/501,
# merged requests -> 482, Require -> 420, Content-Encoding/Type -> 415), §16.3 (Max-Forwards 0 ->
# 483, Proxy-Require -> 420, a loop -> 482), §16.4 (a Route naming sipd is consumed first). UDP
# and TCP. Python client py/uas_conformance.py; one request of our own per rule.
. "$(dirname "$0")/lib.sh"

sipd_start
for tr in udp tcp; do
    check "UAS conformance over $tr (py/uas_conformance.py)" run_py uas_conformance.py "$tr" "$SIP_HOST" "$SIP_PORT"
done
sipd_stop

# a node that forwards nothing answers what it does not take with 405 (known) or 501 (unknown)
SIP_PORT=
sipd_start --roles registrar
check "registrar-only node: INFO 405, FROBNICATE 501 (py/uas_conformance.py methods)" \
    run_py uas_conformance.py udp "$SIP_HOST" "$SIP_PORT" methods
sipd_stop
finish
