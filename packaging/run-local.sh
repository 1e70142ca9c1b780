#!/bin/sh
# Build sipd (installing missing Debian packages first) and start it in the foreground with every
# role on the in-memory store. Ctrl-C stops it.
#   SIPD_LISTEN  where to listen (default udp:127.0.0.1:5060,tcp:127.0.0.1:5060)
#   SIPD_ARGS    extra flags, e.g. "--log-level debug --domain example.com"
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
packaging/install-deps.sh
[ -x configure ] || ./autogen.sh >/dev/null
mkdir -p build
cd build
[ -f Makefile ] || "$top/configure" -q
make -j2 >/dev/null
listen=${SIPD_LISTEN:-udp:127.0.0.1:5060,tcp:127.0.0.1:5060}
echo "sipd: all roles, in-memory store, listening on $listen"
echo "point a SIP client at it: registrar/proxy = ${listen#*:} (any user@domain registers)"
echo "status page and REST API: http://127.0.0.1:5080/ (docs/api.md; --api in SIPD_ARGS to move it)"
exec ./sipd/sipd --foreground --listen "$listen" ${SIPD_ARGS:-}
