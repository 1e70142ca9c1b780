# tls_lib.sh - certificates for the TLS tests (source after lib.sh).
#
#   tls_make_certs DIR   a throwaway CA (ca.pem) and, signed by it, server.pem/.key (names
#                        127.0.0.1 and ::1: what sipd serves, and what a device listening for TLS
#                        shows sipd) and client.pem/.key (a client certificate); rogue.pem/.key is
#                        self-signed (not from the CA). EC P-256, valid for two days.
#   TLS_PORT             a free port for sipd's tls: listener (tls_start_sipd sets it)
#   tls_start_sipd ARGS  sipd_start with udp+tcp on $SIP_PORT and tls on $TLS_PORT, tls.cert/key
#                        from $T_DIR/certs
# shellcheck shell=bash

command -v openssl >/dev/null || bail "openssl not installed (packaging/install-deps.sh)"

_tls_leaf() { # DIR NAME CN
    local d=$1 n=$2
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/$n.key" \
        -out "$d/$n.csr" -subj "/CN=$3" 2>/dev/null || return 1
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=IP:127.0.0.1,IP:::1" >"$d/$n.ext"
    openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -out "$d/$n.pem" -days 2 -extfile "$d/$n.ext" 2>/dev/null
}

tls_make_certs() {
    local d=$1
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ca.key" \
        -out "$d/ca.pem" -days 2 -subj "/CN=sipd test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        2>/dev/null || return 1
    _tls_leaf "$d" server 127.0.0.1 && _tls_leaf "$d" client "alice client" || return 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/rogue.key" \
        -out "$d/rogue.pem" -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
        2>/dev/null
}

tls_start_sipd() {
    [ -n "$SIP_PORT" ] || SIP_PORT=$(pick_port) || bail "no free port"
    [ -n "${TLS_PORT:-}" ] || TLS_PORT=$(pick_port) || bail "no free port"
    SIPD_LISTEN="udp:$SIP_HOST:$SIP_PORT,tcp:$SIP_HOST:$SIP_PORT,tls:$SIP_HOST:$TLS_PORT" \
        sipd_start --set "tls.cert=$T_DIR/certs/server.pem" --set "tls.key=$T_DIR/certs/server.key" "$@"
}
