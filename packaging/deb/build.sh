#!/bin/sh
# Build the Debian packages sipd_*.deb and sipctl_*.deb from a clean copy of the source tree:
#
#   packaging/deb/build.sh [--src DIR] [--version V] [OUTDIR]
#
# Copies the tree (the files git tracks plus new ones it does not ignore: no build directories,
# no generated files) with packaging/deb/debian/ as debian/ to a temporary directory, installs
# what building needs (devscripts, equivs, lintian, then the Build-Depends of
# debian/control through mk-build-deps), runs dpkg-buildpackage -us -uc -b, copies the .debs to
# OUTDIR (default packaging/deb/out) and runs lintian on them: an error fails the build, the
# warnings are listed (and kept in OUTDIR/lintian.txt).
#   --src DIR    package DIR (a copy of a tree, e.g. with changes of a test) instead of this checkout
#   --version V  a higher version for a test: a changelog entry and AC_INIT in the copy say V
# The version of debian/changelog must equal AC_INIT's in configure.ac (`sipd --version`):
# debian/rules refuses to build otherwise and checks the built binary too.
set -e
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
version=""
out=""
while [ $# -gt 0 ]; do
    case $1 in
        --src) src=$(cd "$2" && pwd); shift 2 ;;
        --version) version=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        -*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
        *) out=$1; shift ;;
    esac
done
[ -n "$out" ] || out="$here/out"
mkdir -p "$out"
out=$(cd "$out" && pwd)

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
tools="dpkg-dev devscripts equivs lintian git" # debhelper comes with the Build-Depends below
missing=""
for p in $tools; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "build.sh: installing:$missing"
    $SUDO apt-get update -q >/dev/null
    $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sipd-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sipd"
# the clean tree: tracked files (as in the working tree) and untracked ones git does not ignore
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
        xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
        xargs -0 cp -a --parents -t "$work/sipd")
else
    (cd "$src" && tar --exclude='./build*' --exclude=./packaging/deb/out -cf - .) | tar -C "$work/sipd" -xf -
fi
rm -rf "$work/sipd/debian"
cp -a "$src/packaging/deb/debian" "$work/sipd/debian"
if [ -n "$version" ]; then
    sed -i "s/^AC_INIT(\[sipd\], *\[[^]]*\]/AC_INIT([sipd], [$version]/" "$work/sipd/configure.ac"
    {
        printf 'sipd (%s) unstable; urgency=medium\n\n  * Test build (build.sh --version).\n\n' "$version"
        printf ' -- sipd developers <sipd@example.invalid>  %s\n\n' "$(date -R)"
        cat "$src/packaging/deb/debian/changelog"
    } >"$work/sipd/debian/changelog"
fi

# the Build-Depends, through a dependency package (equivs) that apt resolves
if ! (cd "$work/sipd" && dpkg-checkbuilddeps >/dev/null 2>&1); then
    echo "build.sh: installing the Build-Depends of debian/control"
    (cd "$work" && $SUDO mk-build-deps -i -r -t "apt-get -y -q --no-install-recommends" \
        "$work/sipd/debian/control" >"$work/deps.log" 2>&1) || { tail -20 "$work/deps.log"; exit 1; }
fi

echo "build.sh: dpkg-buildpackage -us -uc -b ($(cd "$work/sipd" && dpkg-parsechangelog -SVersion))"
(cd "$work/sipd" && DEB_BUILD_OPTIONS="nocheck parallel=2 ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) || { tail -40 "$work/build.log"; exit 1; }
cp "$work"/sipd_*.deb "$work"/sipctl_*.deb "$out/"
ls "$out"/*.deb

# lintian: no error may remain; warnings are printed (the reasons for known tags: packaging/deb/README.md)
changes=$(ls "$work"/sipd_*.changes)
# (as root lintian says so on every run: that line is not a tag)
lintian --fail-on error --tag-display-limit 0 "$changes" 2>&1 |
    grep -v '^running with root privileges is not recommended' >"$out/lintian.txt" || true
lintian --fail-on error --tag-display-limit 0 "$changes" >/dev/null 2>&1 && lrc=0 || lrc=$?
if [ $lrc -ne 0 ]; then
    cat "$out/lintian.txt"
    echo "build.sh: lintian reports errors (exit $lrc)"
    exit 1
fi
if [ -s "$out/lintian.txt" ]; then
    echo "build.sh: lintian (no errors):"
    sed 's/^/  /' "$out/lintian.txt"
else
    echo "build.sh: lintian: clean"
fi
