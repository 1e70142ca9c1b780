#!/bin/sh
# Build the libFuzzer targets with clang (Debian package clang): ./fuzz_message, ./fuzz_broker,
# ./fuzz_presence, ./fuzz_pidf, ./fuzz_framing, ./fuzz_cpim and ./fuzz_api in the current
# directory. Run with a scratch corpus first (libFuzzer writes new
# inputs into the first directory): mkdir -p c && ./fuzz_broker -max_total_time=60 c "$(dirname "$0")/corpus"
# and mkdir -p p && ./fuzz_pidf -max_total_time=60 -dict="$(dirname "$0")/pidf.dict" p "$(dirname "$0")/corpus_pidf"
# (./fuzz_presence likewise, with corpus_presence).
set -e
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../../sipd"
clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" \
    "$here/fuzz_message.c" "$src/sip/msg.c" "$src/sip/rewrite.c" "$src/transport/framing.c" \
    "$src/transport/addr.c" "$src/base/sbuf.c" "$src/base/log.c" \
    $(pkg-config --cflags --libs libosip2) -o fuzz_message
# The broker and presence targets need the whole core (transport, transactions, store, roles; not
# server.c, the wiring that also starts the HTTP control plane, nor reload.c, which calls it) and
# the unit tests' loop fixture (tests/unit/loop_fixture.c).
clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" -I"$here/../unit" \
    "$here/fuzz_broker.c" "$here/../unit/loop_fixture.c" $(find "$src" -name '*.c' ! -name main.c ! -name server.c ! -name reload.c | sort) \
    $(pkg-config --cflags --libs libosip2 libpq gnutls libsystemd) -lresolv -lpthread -o fuzz_broker
clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" \
    "$here/fuzz_pidf.c" "$src/sip/pidf.c" "$src/base/sbuf.c" "$src/base/log.c" -o fuzz_pidf
clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" \
    "$here/fuzz_digest.c" "$src/sip/digest.c" $(pkg-config --cflags --libs gnutls) -o fuzz_digest
clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" -I"$here/../unit" \
    "$here/fuzz_presence.c" "$here/../unit/loop_fixture.c" $(find "$src" -name '*.c' ! -name main.c ! -name server.c ! -name reload.c | sort) \
    $(pkg-config --cflags --libs libosip2 libpq gnutls libsystemd) -lresolv -lpthread -o fuzz_presence
# The TCP framer fed in chunks, and the checks before parsing on what it frames (docs/limits.md).
clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" \
    "$here/fuzz_framing.c" "$src/transport/framing.c" "$src/sip/admission.c" "$src/sip/msg.c" \
    "$src/base/ratelimit.c" "$src/transport/srclimit.c" "$src/base/hmap.c" "$src/base/metrics.c" \
    "$src/transport/addr.c" "$src/base/sbuf.c" "$src/base/log.c" \
    $(pkg-config --cflags --libs libosip2) -lm -o fuzz_framing
clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" \
    "$here/fuzz_cpim.c" "$src/sip/cpim.c" "$src/base/sbuf.c" -o fuzz_cpim
# The REST API's body handlers: api/ and the whole core they call into (no sockets are opened).
clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" -I"$src/.." \
    "$here/fuzz_api.c" $(find "$src/../api" "$src" -name '*.c' ! -name main.c ! -name server.c ! -name reload.c | sort) \
    $(pkg-config --cflags --libs libosip2 libpq gnutls libsystemd libmicrohttpd jansson) \
    -lresolv -lpthread -lm -o fuzz_api
