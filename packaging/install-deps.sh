#!/bin/sh
# Install (with apt-get) every Debian package needed to build, run and test sipd.
# Does nothing when all are present. Needs root (or sudo) when something is missing.
set -e
PKGS="build-essential autoconf automake libtool pkg-config
      libosip2-dev libmicrohttpd-dev libjansson-dev libpq-dev libreadline-dev libcunit1-dev
      libcurl4-openssl-dev libgnutls28-dev libsystemd-dev libjemalloc-dev
      postgresql postgresql-common sip-tester baresip-core python3 python3-yaml iproute2 procps
      prometheus
      clang chromium python3-websocket curl openssl sipvicious"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
