#!/bin/bash
# t_options.sh - OPTIONS to the server gets 200 with Allow, Supported and Accept (RFC 3261 §11).
# UDP and TCP, SIPp scenario options.xml.
. "$(dirname "$0")/lib.sh"

sipd_start
for tr in udp tcp; do
    sipp_ok "OPTIONS over $tr: 200 with Allow (REGISTER, OPTIONS), Supported, Accept" \
        "options_$tr" options.xml "$tr" -key user "$(new_user opt)"
done
sipd_stop
finish
