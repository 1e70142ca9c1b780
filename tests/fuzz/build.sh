#!/bin/bash
# Build the libFuzzer targets with clang (Debian package clang): ./fuzz_message, ./fuzz_broker,
# ./fuzz_presence, ./fuzz_pidf, ./fuzz_framing, ./fuzz_cpim and ./fuzz_api in the current
# directory. Run with a scratch corpus first (libFuzzer writes new
# inputs into the first directory): mkdir -p c && ./fuzz_broker -max_total_time=60 c "$(dirname "$0")/corpus"
# and mkdir -p p && ./fuzz_pidf -max_total_time=60 -dict="$(dirname "$0")/pidf.dict" p "$(dirname "$0")/corpus_pidf"
# (./fuzz_presence likewise, with corpus_presence).
# The targets compile side by side, FUZZ_BUILD_JOBS (default 2) at a time; the script fails when
# any of them does, after all have finished (each one's errors are in NAME.build.log).
set -u
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../../sipd"
jobs=${FUZZ_BUILD_JOBS:-2}
running=0 failed=0
# cc NAME ARGS...: compile target NAME in the background (clang ARGS -o NAME)
cc() {
    local name=$1
    shift
    if [ "$running" -ge "$jobs" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
    (clang "$@" -o "$name" >"$name.build.log" 2>&1 || { cat "$name.build.log" >&2; exit 1; }) &
    running=$((running + 1))
}
cc fuzz_message -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" \
    "$here/fuzz_message.c" "$src/sip/msg.c" "$src/sip/rewrite.c" "$src/transport/framing.c" \
    "$src/transport/addr.c" "$src/base/sbuf.c" "$src/base/log.c" \
    $(pkg-config --cflags --libs libosip2)
# The broker and presence targets need the whole core (transport, transactions, store, roles; not
# server.c, the wiring that also starts the HTTP control plane, nor reload.c, which calls it) and
# the unit tests' loop fixture (tests/unit/loop_fixture.c).
cc fuzz_broker -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" -I"$here/../unit" \
    "$here/fuzz_broker.c" "$here/../unit/loop_fixture.c" $(find "$src" -name '*.c' ! -name main.c ! -name server.c ! -name reload.c | sort) \
    $(pkg-config --cflags --libs libosip2 libpq gnutls libsystemd) -lresolv -lpthread
cc fuzz_pidf -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" \
    "$here/fuzz_pidf.c" "$src/sip/pidf.c" "$src/base/sbuf.c" "$src/base/log.c"
cc fuzz_digest -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" \
    "$here/fuzz_digest.c" "$src/sip/digest.c" $(pkg-config --cflags --libs gnutls)
cc fuzz_presence -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" -I"$here/../unit" \
    "$here/fuzz_presence.c" "$here/../unit/loop_fixture.c" $(find "$src" -name '*.c' ! -name main.c ! -name server.c ! -name reload.c | sort) \
    $(pkg-config --cflags --libs libosip2 libpq gnutls libsystemd) -lresolv -lpthread
# The TCP framer fed in chunks, and the checks before parsing on what it frames (docs/limits.md).
cc fuzz_framing -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" \
    "$here/fuzz_framing.c" "$src/transport/framing.c" "$src/sip/admission.c" "$src/sip/msg.c" \
    "$src/base/ratelimit.c" "$src/transport/srclimit.c" "$src/base/hmap.c" "$src/base/metrics.c" \
    "$src/transport/addr.c" "$src/base/sbuf.c" "$src/base/log.c" \
    $(pkg-config --cflags --libs libosip2) -lm
cc fuzz_cpim -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" \
    "$here/fuzz_cpim.c" "$src/sip/cpim.c" "$src/base/sbuf.c"
# The REST API's body handlers: api/ and the whole core they call into (no sockets are opened).
cc fuzz_api -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" -I"$src/.." \
    "$here/fuzz_api.c" $(find "$src/../api" "$src" -name '*.c' ! -name main.c ! -name server.c ! -name reload.c | sort) \
    $(pkg-config --cflags --libs libosip2 libpq gnutls libsystemd libmicrohttpd jansson) \
    -lresolv -lpthread -lm
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done
exit "$failed"
