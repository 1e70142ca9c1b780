#!/bin/bash
# t_cli.sh - bad command lines and bad configuration exit with status 2 and one error line;
# nothing is left running.
. "$(dirname "$0")/lib.sh"

[ -x "$SIPD" ] || bail "sipd binary not found at $SIPD"

# expect_exit2 DESCRIPTION ARGS...: sipd ARGS must exit 2 (within 5 s) printing exactly one line.
expect_exit2() {
    local what=$1 out rc lines
    shift
    out=$(timeout -k 1 5 "$SIPD" "$@" 2>&1 </dev/null)
    rc=$?
    lines=$(printf '%s' "$out" | grep -c .)
    log "sipd $* -> exit $rc, output: $out"
    check "$what: exit status 2 (got $rc)" test "$rc" -eq 2
    check "$what: exactly one error line (got $lines)" test "$lines" -eq 1
}

P=$(pick_port)
L="udp:127.0.0.1:$P,tcp:127.0.0.1:$P"
expect_exit2 "sipd --bogus-flag" --bogus-flag
expect_exit2 "unknown config key" --foreground --listen "$L" --set nosuch.key=1
expect_exit2 "non-numeric registrar.min_expires" --foreground --listen "$L" --set registrar.min_expires=abc
expect_exit2 "--set without '='" --foreground --listen "$L" --set registrar.min_expires
expect_exit2 "bad --listen" --foreground --listen "carrier-pigeon:nowhere"
expect_exit2 "bad --log-level" --foreground --listen "$L" --log-level loud
expect_exit2 "--roles balancer without --db (the balancer needs the cluster database)" --foreground --listen "$L" --roles balancer
expect_exit2 "--roles registrar,balancer (the balancer runs alone)" --foreground --listen "$L" --roles registrar,balancer
expect_exit2 "missing --config file" --foreground --listen "$L" --config "$T_DIR/does-not-exist.conf"
printf '[registrar]\nmin_expires = sixty\n' >"$T_DIR/bad.conf"
expect_exit2 "bad value in --config file" --foreground --listen "$L" --config "$T_DIR/bad.conf"
check "nothing listens on port $P afterwards" test -z "$(ss -Hlntu "( sport = :$P )")"
finish
