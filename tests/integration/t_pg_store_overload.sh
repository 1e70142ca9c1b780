#!/bin/bash
# t_pg_store_overload.sh - limits.max_store_pending (docs/limits.md): while the store has that
# many operations waiting, a new request that needs it (here REGISTER) is answered 503 with
# Retry-After at once instead of queueing behind them; with the default bound the same burst
# is served whole; the refusals are counted in sipd_limit_rejections_total{limit=
# "max_store_pending"}. A REGISTER burst of distinct users (py/flood.py) against PostgreSQL.
. "$(dirname "$0")/lib.sh"

pg_require
pg_new_db
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# burst NAME: 1.5 s of REGISTERs for distinct users at 2000/s; the answers in $T_DIR/NAME.json
burst() {
    run_py flood.py "$SIP_HOST" "$SIP_PORT" --bind 127.0.0.1 --seconds 1.5 --rate 2000 \
        --method REGISTER --ruri "sip:$DOMAIN" --distinct-users --tail 3 >"$T_DIR/$1.json"
    log "$1: $(cat "$T_DIR/$1.json")"
}

# a bound of 1: nearly every REGISTER of the burst finds one waiting
sipd_start --db "$SIPD_DB" --set limits.max_store_pending=1
burst tight
sent=$(field "$T_DIR/tight.json" sent) ok=$(field "$T_DIR/tight.json" ok)
thr=$(field "$T_DIR/tight.json" throttled) ra=$(field "$T_DIR/tight.json" retry_after)
other=$(field "$T_DIR/tight.json" other)
check "bound 1: the burst was sent ($sent REGISTERs)" test "$sent" -ge 1000
check "bound 1: some REGISTERs answered 503 ($thr), each with Retry-After ($ra)" \
    test "$thr" -gt 0 -a "$thr" -eq "$ra"
check "bound 1: the others registered (200: $ok), nothing else came back ($other)" \
    test "$ok" -gt 0 -a "$other" -eq 0 -a $((ok + thr)) -eq "$sent"
n=$(curl -s --max-time 5 "$API_URL/metrics" |
    awk '/^sipd_limit_rejections_total\{limit="max_store_pending"\}/ {print $2}')
check "sipd_limit_rejections_total{limit=max_store_pending} counts them (${n:-none} = $thr)" \
    test "${n:-0}" = "$thr"
sipp_ok "after the burst a REGISTER is served again (200)" after register_basic.xml udp \
    -key user "$(new_user after)"
sipd_stop

# the default bound (5000): the same burst, all served
sipd_start --db "$SIPD_DB"
burst default
sent=$(field "$T_DIR/default.json" sent) ok=$(field "$T_DIR/default.json" ok)
check "default bound: every REGISTER of the burst registered ($ok of $sent)" test "$ok" -eq "$sent"
sipd_stop
finish
