#!/bin/sh
# Build the sipd .deb: copies the source tree to a temporary directory, adds debian/, runs
# dpkg-buildpackage, and leaves sipd_*.deb in packaging/deb/out/.
set -e
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out="$here/out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sipd" "$out"
(cd "$top" && git ls-files -z | xargs -0 cp --parents -t "$work/sipd")
cp -r "$here/debian" "$work/sipd/debian"
(cd "$work/sipd" && dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) || { tail -40 "$work/build.log"; exit 1; }
cp "$work"/*.deb "$out/"
ls "$out"/*.deb
