#!/bin/bash
# Build the libFuzzer targets (build.sh, needs clang) and run each for a bounded time against a
# scratch copy of its seed corpus, two at a time. A crash, leak or sanitizer report fails that
# target; its log tail and the crashing input's path are printed. Ends with "N passed, M failed".
#
#   tests/fuzz/run.sh [BUILD_DIR]      default BUILD_DIR: $TMPDIR/sipd-fuzz
#   FUZZ_SECONDS=30                    time per target
#   FUZZ_SKIP_BUILD=1                  the targets are already built in BUILD_DIR (.ci/run builds
#                                      them beside the first test pass)
set -u
here=$(cd "$(dirname "$0")" && pwd)
bdir=${1:-${TMPDIR:-/tmp}/sipd-fuzz}
secs=${FUZZ_SECONDS:-30}
mkdir -p "$bdir"
bdir=$(cd "$bdir" && pwd)

if [ -z "${FUZZ_SKIP_BUILD:-}" ] && ! (cd "$bdir" && bash "$here/build.sh") >"$bdir/build.log" 2>&1; then
    tail -n 30 "$bdir/build.log" | sed 's/^/# /'
    echo "not ok - fuzz targets build"
    echo "0 passed, 1 failed"
    exit 1
fi

# target  corpus-dir  extra-flags
targets=(
    "fuzz_message corpus"
    "fuzz_broker corpus"
    "fuzz_presence corpus_presence"
    "fuzz_pidf corpus_pidf -dict=$here/pidf.dict"
    "fuzz_digest corpus_digest"
    "fuzz_framing corpus_framing"
    "fuzz_cpim corpus_cpim"
    "fuzz_api corpus_api"
)

# fuzz_one NAME CORPUS [FLAGS]: run NAME for $secs seconds; status file NAME.rc
fuzz_one() {
    local name=$1 corpus=$2
    shift 2
    local work=$bdir/$name.work
    rm -rf "$work" && mkdir -p "$work/new" "$work/artifacts"
    (cd "$work" && timeout -k 10 $((secs + 60)) "$bdir/$name" -max_total_time="$secs" \
        -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$@" \
        "$work/new" "$here/$corpus") >"$work/log" 2>&1
    echo $? >"$work/rc"
}

running=0
for t in "${targets[@]}"; do
    # shellcheck disable=SC2086 # word splitting of the table row is intended
    set -- $t
    if [ "$running" -ge 2 ]; then
        wait -n
        running=$((running - 1))
    fi
    fuzz_one "$@" &
    running=$((running + 1))
done
wait

passed=0 failed=0
for t in "${targets[@]}"; do
    name=${t%% *}
    work=$bdir/$name.work
    rc=$(cat "$work/rc" 2>/dev/null || echo 99)
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$work/log" | grep -oE '[0-9]+$')
    if [ "$rc" = 0 ]; then
        echo "ok - $name (${runs:-?} runs in ${secs} s)"
        passed=$((passed + 1))
    else
        echo "not ok - $name (exit $rc)"
        tail -n 40 "$work/log" | sed 's/^/# /'
        find "$work/artifacts" -type f -printf '# crashing input: %p\n' 2>/dev/null
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
