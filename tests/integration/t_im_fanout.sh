#!/bin/bash
# t_im_fanout.sh - the im package (docs/im-event-package.md): Bob on three devices receives every
# message in order, NOTIFY bodies are message/cpim wrapping the original content unchanged, the
# publisher gets Im-Seq, the sender's other device gets the copy and the sending device none.
# Memory store; TCP and UDP. Client: py/im_fanout.py.
. "$(dirname "$0")/lib.sh"

sipd_start
for tr in tcp udp; do
    check "fan-out to three devices over $tr (py/im_fanout.py)" run_py im_fanout.py "$tr" "$SIP_HOST" "$SIP_PORT" "$(new_user f)"
done
sipd_stop
finish
