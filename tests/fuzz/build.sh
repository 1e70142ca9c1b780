#!/bin/sh
# Build the libFuzzer targets with clang (Debian package clang): ./fuzz_message and ./fuzz_pidf in
# the current directory. Run: ./fuzz_message -max_total_time=60 "$(dirname "$0")/corpus",
# ./fuzz_pidf -max_total_time=60 -dict="$(dirname "$0")/pidf.dict" "$(dirname "$0")/corpus_pidf"
set -e
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../../sipd"
clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" \
    "$here/fuzz_message.c" "$src/sip/msg.c" "$src/sip/rewrite.c" "$src/transport/framing.c" \
    "$src/transport/addr.c" "$src/base/sbuf.c" "$src/base/log.c" \
    $(pkg-config --cflags --libs libosip2) -o fuzz_message
clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I"$src" \
    "$here/fuzz_pidf.c" "$src/roles/pidf.c" "$src/base/sbuf.c" "$src/base/log.c" -o fuzz_pidf
