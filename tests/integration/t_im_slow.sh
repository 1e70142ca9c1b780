#!/bin/bash
# t_im_slow.sh - a subscriber that stops answering loses nothing (one NOTIFY outstanding, the live
# queue bound of 4 overflows into reading from the store, everything arrives in order once), and
# retention (20 kept) shows as a gap: since=5 gets first-seq=21 and im.Gap: 6-20. TCP and UDP.
# Client: py/im_slow.py.
. "$(dirname "$0")/lib.sh"

sipd_start --set broker.im_max_queue=4 --set broker.im_retention_count=20
for tr in tcp udp; do
    check "slow subscriber and gaps over $tr (py/im_slow.py)" run_py im_slow.py "$tr" "$SIP_HOST" "$SIP_PORT" "$(new_user s)"
done
sipd_stop
finish
