#!/bin/bash
# t_dispatch_nodomain.sh - with no --domain ("empty = any"), one rule decides what is sipd's and
# what it forwards (sip/uri.c uri_is_ours): a Request-URI naming another port is someone else's
# (MESSAGE forwarded to the UAS there, not stored by the broker); our address with no port is
# ours (a softphone's REGISTER sip:127.0.0.1 gets 200 from sipd itself, MESSAGEs to
# sip:user@127.0.0.1 reach the registered user). See py/dispatch.py. UDP and TCP.
. "$(dirname "$0")/lib.sh"

DOMAIN=
sipd_start
for tr in udp tcp; do
    check "$tr: what is ours and what is forwarded, without --domain" \
        run_py dispatch.py "$tr" "$SIP_HOST" "$SIP_PORT"
done
sipd_stop
finish
