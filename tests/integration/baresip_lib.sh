# baresip_lib.sh - baresip (Debian baresip-core) as a real client in integration tests.
# Source after lib.sh.
#
# baresip_start DIR ACCOUNT [CONFIG_LINE...]: write DIR/config (epoll, a free listen port on
#   $SIP_HOST, the account and menu modules, no audio) with any extra lines, DIR/accounts with the
#   one ACCOUNT line, and start `baresip -s` (SIP trace) in the background, output in DIR/out.
#   Sets BARESIP_PID (tracked for the cleanup trap) and BARESIP_OUT. baresip quits by itself after
#   60 s; stop it sooner with baresip_stop.
# baresip_wait_for PATTERN SECONDS: wait until the trace holds PATTERN (grep -a); status 1 if not.
# baresip_stop: SIGTERM baresip (it unregisters and exits) and wait for it.
#
# The waits are long on purpose: under the sanitizer build on a loaded CI machine a TLS
# registration took more than the 5 s these tests once allowed. A fast machine never waits them out.

baresip_start() {
    local dir=$1 account=$2 port
    shift 2
    port=$(pick_port) || bail "no free port for baresip"
    mkdir -p "$dir"
    {
        printf 'poll_method\t\tepoll\n'
        printf 'sip_listen\t\t%s:%s\n' "$SIP_HOST" "$port"
        printf 'module_path\t\t/usr/lib/baresip/modules\n'
        printf 'module\t\t\taccount.so\n'
        printf 'module_app\t\tmenu.so\n'
        printf 'audio_player\t\tnil\naudio_source\t\tnil\naudio_alert\t\tnil\n'
        local line
        for line in "$@"; do printf '%s\n' "$line"; done
    } >"$dir/config"
    printf '%s\n' "$account" >"$dir/accounts"
    BARESIP_OUT=$dir/out
    log "baresip -s -f $dir (listening on $SIP_HOST:$port): $account"
    timeout -k 3 60 baresip -s -f "$dir" -t 55 </dev/null >"$BARESIP_OUT" 2>&1 &
    BARESIP_PID=$!
    track_pid "$BARESIP_PID"
}

baresip_wait_for() {
    local pattern=$1 seconds=$2 i
    for ((i = 0; i < seconds * 10; i++)); do
        grep -qa -- "$pattern" "$BARESIP_OUT" && return 0
        kill -0 "$BARESIP_PID" 2>/dev/null || break
        sleep 0.1
    done
    grep -qa -- "$pattern" "$BARESIP_OUT"
}

baresip_stop() {
    kill -TERM "$BARESIP_PID" 2>/dev/null
    wait "$BARESIP_PID" 2>/dev/null
    return 0
}
