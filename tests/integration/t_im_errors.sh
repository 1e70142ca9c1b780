#!/bin/bash
# t_im_errors.sh - rejections of the im package (489, 400 Bad since, 423, 406, 415, 481, 412, 400,
# 413) and large messages: 1 MiB whole over TCP, a truncation notice over UDP. All roles, then a
# broker without the proxy role (where a SUBSCRIBE for another package is 489). Client:
# py/im_errors.py.
. "$(dirname "$0")/lib.sh"

sipd_start
check "im rejections, all roles (py/im_errors.py)" run_py im_errors.py "$SIP_HOST" "$SIP_PORT" "$(new_user e)" all
sipd_stop
SIP_PORT=
sipd_start --roles registrar,broker
check "im rejections, registrar+broker (py/im_errors.py)" run_py im_errors.py "$SIP_HOST" "$SIP_PORT" "$(new_user e)" registrar,broker
sipd_stop
finish
