#!/bin/bash
# t_im_group.sh - a group topic of 20 members (created from broker.groups): everyone gets every
# message in one order with im.Topic; non-members get 403 for SUBSCRIBE and MESSAGE; subscribing
# to another user's topic is 403. Memory store; TCP. Client: py/im_group.py.
. "$(dirname "$0")/lib.sh"

prefix=$(new_user gm)
members=$(for i in $(seq 1 20); do printf 'sip:%s%d@%s ' "$prefix" "$i" "$DOMAIN"; done)
sipd_start --set "broker.groups=sip:team-$prefix@$DOMAIN=$members"
check "group of 20 (py/im_group.py)" run_py im_group.py tcp "$SIP_HOST" "$SIP_PORT" "sip:team-$prefix@$DOMAIN" "$prefix" 20
sipd_stop
finish
