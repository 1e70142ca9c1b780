#!/bin/bash
# Build sipd and run every test: CUnit unit tests and the integration tests (real sipd, real
# PostgreSQL through pg_virtualenv, SIPp). Installs missing Debian packages first.
#
#   tests/run.sh              normal build in build/
#   tests/run.sh --sanitize   ASan+UBSan build in build-asan/
#
# Ends with one line "N passed, M failed"; exits non-zero when any test failed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
mode=normal
[ "${1:-}" = "--sanitize" ] && mode=sanitize

packaging/install-deps.sh || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }
[ -x configure ] || ./autogen.sh >/dev/null || { echo "autogen failed"; echo "0 passed, 1 failed"; exit 1; }

if [ "$mode" = sanitize ]; then
    bdir="$top/build-asan"; confargs="--enable-sanitizers"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=23"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
else
    bdir="$top/build"; confargs=""
fi
mkdir -p "$bdir"
cd "$bdir" || exit 1
if [ ! -f Makefile ]; then
    "$top/configure" -q $confargs || { echo "configure failed"; echo "0 passed, 1 failed"; exit 1; }
fi
make -j2 >make.log 2>&1 || { tail -40 make.log; echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

# unit and integration runners side by side; the integration runner runs its tests in parallel
make -j2 check >check.log 2>&1
rc=$?
passed=0; failed=0
for log in tests/unit/run-unit.sh.log tests/integration/run-all.sh.log; do
    if [ -f "$log" ]; then
        line=$(grep -E '^[a-z]*:? ?[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
        echo "--- $log"
        # every integration test with its time, failures with their log tail, the ten slowest;
        # of the unit tests only the failures
        grep -E '^(ok|not ok) |^# |FAILED|Test: .*\.\.\.FAILED' "$log" |
            grep -Ev '^# (sipd:|inside pg_virtualenv|PostgreSQL tests)' | head -400
        echo "$line"
        p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
        f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
        if [ -z "$p" ]; then echo "$log: no summary line"; f=1; p=0; fi
        passed=$((passed + p)); failed=$((failed + f))
    else
        echo "$log: missing (the runner did not run)"
        failed=$((failed + 1))
    fi
done
if [ $rc -ne 0 ] && [ $failed -eq 0 ]; then
    tail -30 check.log
    failed=1
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
