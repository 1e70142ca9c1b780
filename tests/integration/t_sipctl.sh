#!/bin/bash
# t_sipctl.sh - sipctl, the operator's CLI (docs/sipctl.1), against a real sipd on the memory
# store, asserting what a user sees: table rows, one-line errors, exit statuses 0 (done),
# 1 (refused), 2 (usage), 3 (unreachable), --json that parses, options from flags, environment
# and config file, and an interactive session through a pty (py/sipctl_shell.py).
# A route the API does not serve (404 "no such route", or 405) is a failure (sipctl_lib.sh).
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/sipctl_lib.sh"

T=(--token "$API_TOKEN")

sipd_start
export SIPCTL_URL=$API_URL

# ---- nodes: the memory store has none until one is added ----
ctl nodes
check "nodes: exit 0" rc_is 0
check "nodes: the header row" out_has '^NID +NAME +STATE +ROLES +ADDRESS +WORK/MAX +HEARTBEAT +RTT$'
ctl nodes --json
check "nodes --json: exit 0 and {items: [], next: null}" json_ok "j == {'items': [], 'next': None}"
ctl node show nosuch
check "node show of an unknown node: exit 1" rc_is 1
check "... the API's error and detail on one line" err_is_one_line '^sipctl: not found: .*nosuch'
ctl --json node show nosuch
check "--json node show of an unknown node: exit 1 and the error's JSON" \
    json_ok "j['error'] == 'not found'"
ctl node drain nosuch
check "a write without a token: exit 1, unauthorized" err_is_one_line '^sipctl: unauthorized'
ctl "${T[@]}" node drain nosuch
check "a write with the token reaches the API (exit 1, no such node)" err_is_one_line '^sipctl: not found: .*nosuch'

ctl "${T[@]}" node add n1 --address "udp:127.0.0.1:5999" --roles registrar,proxy --max-num 7
if missing; then
    skip "node add/show/set/standby/activate/remove"
else
    check "node add: exit 0" rc_is 0
    check "... prints the node's row" out_has '^ +[0-9]+ +n1 +[a-z]+ +registrar,proxy +udp:127.0.0.1:5999 +[0-9]+/7 '
    ctl "${T[@]}" node add n1 --address "udp:127.0.0.1:5999" --roles proxy
    check "node add of an existing name: exit 1, conflict" err_is_one_line '^sipctl: [^:]+: .+'
    ctl nodes
    check "nodes lists n1" out_has ' n1 +[a-z]+ +registrar,proxy '
    ctl node show n1
    check "node show: FIELD/VALUE rows" out_has '^name +n1$'
    ctl "${T[@]}" node set n1 --max-num 50
    check "node set --max-num: exit 0, 50 in the row" out_has ' [0-9]+/50 '
    # n1 is not running (no sipd answers for it): its state is down, with what was marked
    ctl "${T[@]}" node standby n1
    check "node standby: exit 0, state down/standby" out_has ' n1 +down/standby '
    ctl "${T[@]}" node drain n1
    check "node drain: exit 0, state down/draining/standby" out_has ' n1 +down/draining/standby '
    ctl --json node show n1
    check "node show --json: draining and standby true" json_ok "j['draining'] is True and j['standby'] is True"
    ctl "${T[@]}" node activate n1
    check "node activate: exit 0, neither draining nor standby" out_has ' n1 +down +registrar,proxy '
    ctl "${T[@]}" node activate nosuch
    check "node activate of an unknown node: exit 1, one line" err_is_one_line '^sipctl: not found: .*nosuch'
    ctl heartbeats
    check "heartbeats: a row for n1 that was never probed" out_has '^n1 +[a-z]+ +never '
    ctl heartbeats n1
    check "heartbeats n1: exit 0 and the beats header" out_has '^TIME +AGE +OK +RTT +WORK$'
    ctl --json heartbeats n1
    check "heartbeats n1 --json parses" json_ok "'items' in j"
fi

# ---- usage errors: exit 2, before any request ----
for args in "frob" "node" "node frob n1" "node add" "node add n1 --roles proxy" \
    "node set n1 --max-num 0" "node set n1 --max-num x" "messages t --since -1" "publish t" \
    "topic create" "--url" "--nosuch nodes" "--url ftp://host nodes"; do
    # shellcheck disable=SC2086 # word lists on purpose
    ctl $args
    check "'sipctl $args' is a usage error (exit 2, got $RC)" rc_is 2
done
check "... with a usage line" grep -q '^usage: sipctl' "$T_DIR/err"

# ---- unreachable: exit 3 ----
dead=$(pick_port)
ctl --url "http://127.0.0.1:$dead" nodes
check "connection refused: exit 3" rc_is 3
check "... saying it cannot reach the URL" err_is_one_line "cannot reach http://127.0.0.1:$dead"
# a listener that never answers: the connection is made, the 10 s bound on a request ends it
mute=$(pick_port)
timeout 30 python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', $mute)); s.listen(8); time.sleep(30)" &
track_pid $!
for _ in $(seq 1 50); do _port_in_use "$mute" && break; sleep 0.1; done
ctl --url "http://127.0.0.1:$mute" nodes
check "a server that accepts but never answers: exit 3 after the timeout (got $RC)" rc_is 3
check "... saying so" err_is_one_line "cannot reach .*(timed out|Timeout)"

# ---- where the URL and token come from: flags > environment > config file ----
printf '%s\n' "$API_TOKEN" >"$T_DIR/token"
printf '# sipctl\nurl = %s\ntoken_file = %s\n' "$API_URL" "$T_DIR/token" >"$T_DIR/sipctl.conf"
SIPCTL_URL='' SIPCTL_CONFIG=$T_DIR/sipctl.conf ctl node drain nosuch
check "config file: URL and token_file used (the write is authorised: no such node)" \
    err_is_one_line '^sipctl: not found'
mkdir -p "$T_DIR/.config"
printf 'url = http://127.0.0.1:%s\n' "$dead" >"$T_DIR/.config/sipctl.conf"
SIPCTL_URL='' SIPCTL_CONFIG='' ctl nodes
check "$HOME/.config/sipctl.conf is read when SIPCTL_CONFIG is unset (its dead URL: exit 3)" rc_is 3
SIPCTL_CONFIG='' ctl nodes
check "SIPCTL_URL beats the config file (exit 0)" rc_is 0
SIPCTL_URL=http://127.0.0.1:$dead ctl --url "$API_URL" nodes
check "--url beats SIPCTL_URL (exit 0)" rc_is 0
SIPCTL_TOKEN=wrong ctl --token "$API_TOKEN" node drain nosuch
check "--token beats SIPCTL_TOKEN" err_is_one_line '^sipctl: not found'
SIPCTL_TOKEN=wrong ctl node drain nosuch
check "SIPCTL_TOKEN is sent" err_is_one_line '^sipctl: unauthorized'
printf 'url = %s\ntokn = x\n' "$API_URL" >"$T_DIR/bad.conf"
SIPCTL_CONFIG=$T_DIR/bad.conf ctl nodes
check "a bad config key is a usage error naming file and line" \
    bash -c "[ $RC = 2 ] && grep -q 'bad.conf:2: unknown key' '$T_DIR/err'"
rm -f "$T_DIR/.config/sipctl.conf"

# ---- registrations ----
U=$(new_user ctl)
sipp_ok "REGISTER $U (Expires 3600)" reg register_basic.xml udp -key user "$U"
ctl regs
if missing; then
    skip "regs"
else
    check "regs: the AOR with one binding" out_has "^sip:$U@$DOMAIN +1$"
    ctl regs "sip:$U@$DOMAIN"
    check "regs AOR: the contact with about an hour left" out_has "^<?sip:c1@[^ ]+ +(59m[0-9]{2}s|1h00m) "
    ctl --json regs "sip:$U@$DOMAIN"
    check "regs AOR --json parses, one binding" json_ok "len(j['bindings']) == 1"
    ctl regs "sip:nobody-$U@$DOMAIN"
    check "regs of an AOR without bindings: exit 1" rc_is 1
fi

# ---- topics, members, messages, subscriptions ----
TOPIC="sip:team-$U@$DOMAIN"
ctl "${T[@]}" topic create "$TOPIC" --member "sip:a-$U@$DOMAIN" --member "sip:b-$U@$DOMAIN"
if missing; then
    skip "topic create/add/remove/delete, topics, messages, publish, subs"
else
    check "topic create: exit 0" rc_is 0
    check "... lists both members" out_has "^sip:b-$U@$DOMAIN$"
    ctl "${T[@]}" topic create "$TOPIC" --member "sip:a-$U@$DOMAIN"
    check "topic create again: exit 1, conflict" err_is_one_line '^sipctl: [^:]+: .+'
    ctl topics
    check "topics: the group with 2 members" out_has "^sip:team-$U@$DOMAIN +group +[0-9]+ +2$"
    ctl "${T[@]}" topic add "$TOPIC" "sip:c-$U@$DOMAIN"
    check "topic add: the new member listed (a URI in the path is percent-encoded)" out_has "^sip:c-$U@$DOMAIN$"
    ctl "${T[@]}" topic remove "$TOPIC" "sip:a-$U@$DOMAIN"
    check "topic remove: exit 0, the member gone" bash -c "[ $RC = 0 ] && ! grep -q '^sip:a-' '$T_DIR/out'"
    ctl "${T[@]}" topic remove "$TOPIC" "sip:a-$U@$DOMAIN"
    check "topic remove of a non-member: exit 1" rc_is 1
    ctl "${T[@]}" publish "$TOPIC" hello from the operator
    if missing; then
        skip "publish, messages"
    else
        check "publish: exit 0 with the seq" out_has '^published to .*: seq [0-9]+$'
        ctl messages "$TOPIC"
        check "messages: the notice's row" out_has '^ +[0-9]+ .* text/plain +hello from the operator$'
        ctl --json messages "$TOPIC" --since 0
        check "messages --json parses" json_ok "j['items'][-1]['body'] == 'hello from the operator'"
    fi
    # a member's device subscribes: `subs TOPIC` (a group: ?topic=) and `subs AOR` (?user=) show it
    run_py sipctl_subscribe.py udp "$SIP_HOST" "$SIP_PORT" "b-$U" "$TOPIC" 20 >"$T_DIR/sub.out" 2>&1 &
    track_pid $!
    for _ in $(seq 1 50); do grep -q 'SUBSCRIBE' "$T_DIR/sub.out" && break; sleep 0.1; done
    check "b-$U's device subscribes to the group (SIP SUBSCRIBE 200)" grep -q -- '-> 200' "$T_DIR/sub.out"
    ctl subs "$TOPIC"
    if missing; then skip "subs"; else
        check "subs of a group topic: exit 0 and the header" out_has '^TOPIC +AOR +DEVICE +NODE +ACKED +STATE +EXPIRES$'
        check "... a row for b-$U's device (no node on the memory store: -)" out_has "^$TOPIC +sip:b-$U@$DOMAIN +[^ ]*b-${U}[^ ]* +- +[0-9]+ +active "
        ctl subs "sip:b-$U@$DOMAIN"
        check "subs of a user (not a group topic: ?user=): the same subscription" out_has "^$TOPIC +sip:b-$U@$DOMAIN "
        ctl --json subs --topic "$TOPIC"
        check "subs --topic --json parses: one subscription" json_ok "len(j['items']) == 1 and j['items'][0]['aor'] == 'sip:b-$U@$DOMAIN'"
    fi
    ctl "${T[@]}" topic delete "$TOPIC"
    check "topic delete: exit 0" out_has "^topic $TOPIC deleted$"
    ctl topic show "$TOPIC"
    check "topic show after delete: exit 1" rc_is 1
fi
ctl subs "sip:$U@$DOMAIN"
if missing; then skip "subs of a user"; else
    check "subs of a user: exit 0" rc_is 0
fi

# ---- presence and stats ----
ctl presence "sip:$U@$DOMAIN"
if missing; then skip "presence"; else
    check "presence of an AOR that published nothing: exit 1, not found" err_is_one_line '^sipctl: not found'
    check "p-$U publishes presence (SIP PUBLISH 200)" run_py sipctl_publish.py udp "$SIP_HOST" "$SIP_PORT" "p-$U" "at the desk"
    ctl presence "sip:p-$U@$DOMAIN"
    check "presence: the publication's row (etag, about a minute, pidf)" \
        out_has '^[^ ]+ +(59|60)\.[0-9]s +application/pidf\+xml$|^[^ ]+ +1m00s +application/pidf\+xml$'
    check "... and the composed document with the note" out_has '<note>at the desk</note>'
    ctl --json presence "sip:p-$U@$DOMAIN"
    check "presence --json parses: one publication" json_ok "len(j['publications']) == 1 and 'at the desk' in j['document']"
fi
ctl stats
if missing; then skip "stats"; else
    check "stats: exit 0, a counter row (the REGISTER above)" \
        out_has '^sipd_requests_received_total\{method="REGISTER"\} +counter +[1-9][0-9]*$'
    check "... and a gauge row" out_has '^sipd_[a-z_]+ +gauge +[0-9.e+-]+$'
    ctl --json stats
    check "stats --json parses" json_ok "'counters' in j and 'gauges' in j"
fi

# ---- help ----
ctl help
check "help lists every command" bash -c "for w in nodes 'node add' 'watch heartbeats' 'topic create' subs messages publish presence stats; do grep -q \"\$w\" '$T_DIR/out' || exit 1; done"

# ---- watch heartbeats outside a terminal: one table per redraw; SIGINT ends it with status 0 ----
# --foreground: timeout passes the SIGINT to sipctl alone. Without it timeout also signals its
# process group and sends SIGCONT, which, arriving late on a loaded machine while the ASan build
# runs LeakSanitizer at exit (the process is ptrace-stopped by LSan's tracer), left sipctl
# stopped for good (gdb: "already traced"): 1 of 127 runs under CPU hogs, 0 of 150 with it.
timeout --foreground -k 10 20 "$SIPCTL" watch heartbeats >"$T_DIR/watch.out" 2>&1 &
wpid=$!
track_pid "$wpid"
sleep 1
kill -INT "$wpid"
wait "$wpid"
rc=$?
check "watch heartbeats: SIGINT ends it with status 0 (got $rc)" test "$rc" = 0
check "... after drawing the nodes table" grep -q '^NID  NAME' "$T_DIR/watch.out"
check "... and saying how many events it saw" grep -Eq '^watched [0-9]+ events$' "$T_DIR/watch.out"

# ---- the interactive shell through a pty ----
if [ -n "$(ctl nodes --json >/dev/null; json_ok "len(j['items']) > 0" && echo y)" ]; then
    run_py sipctl_shell.py "$SIPCTL" "$T_DIR" --node n1 \
        --trigger "SIPCTL_URL=$API_URL $SIPCTL --token $API_TOKEN node drain n1" >"$T_DIR/shell.out" 2>&1
else
    run_py sipctl_shell.py "$SIPCTL" "$T_DIR" >"$T_DIR/shell.out" 2>&1
fi
rc=$?
sed 's/^/# shell: /' "$T_DIR/shell.out"
check "interactive shell: completion, history, watch and Ctrl-C (py/sipctl_shell.py, rc $rc)" test "$rc" = 0

# ---- node remove (n1 was kept for the shell's completion) ----
ctl "${T[@]}" node remove n1
if missing; then skip "node remove"; else
    check "node remove n1 (not running): exit 0, said" out_has '^node n1 removed$'
    ctl nodes
    check "... and nodes no longer lists it" bash -c "[ $RC = 0 ] && ! grep -q ' n1 ' '$T_DIR/out'"
    ctl "${T[@]}" node remove n1
    check "node remove of an unknown node: exit 1, not found" err_is_one_line '^sipctl: not found: '
fi

sipd_stop
finish
