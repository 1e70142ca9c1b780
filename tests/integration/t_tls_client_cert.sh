#!/bin/bash
# t_tls_client_cert.sh - with tls.ca set (docs/tls.md): a client certificate is required and
# verified (none, or one not from the CA: no TLS session; the CA's: REGISTER 200), and sipd
# connecting out over TLS verifies the device's certificate against tls.ca (from the CA: the
# INVITE is delivered; self-signed: refused, never delivered). Client: py/tls_sip.py.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/tls_lib.sh"

tls_make_certs "$T_DIR/certs" || bail "could not make test certificates"
C=$T_DIR/certs
tls_start_sipd --set "tls.ca=$C/ca.pem"
check "tls client-cert (py/tls_sip.py)" run_py tls_sip.py client-cert "$SIP_HOST" "$TLS_PORT" "$C" \
    "$(new_user c)" --client-cert --udp-port "$SIP_PORT"
check "tls outbound (py/tls_sip.py)" run_py tls_sip.py outbound "$SIP_HOST" "$TLS_PORT" "$C" \
    "$(new_user o)" --client-cert --udp-port "$SIP_PORT"
check "sipd logged the refused client certificates" grep -q "tls handshake failed" "$SIPD_LOG"
sipd_stop
finish
