# shellcheck shell=bash
# Process helpers, sourced by the bench scripts: stop a server and wait until it is gone, the CPU
# time of a process with its children, and the PostgreSQL postmaster's PID.

# is_running PID...: true while one of the PIDs exists and is not a zombie (a zombie has
# finished; its parent has not reaped it yet).
is_running() {
    local p st
    for p in "$@"; do
        st=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        [ "${st%% *}" = Z ] || return 0
    done
    return 1
}

# stop_wait PID [LABEL]: SIGTERM to PID, then wait until PID and the children it had are gone, so
# that its teardown does not overlap the next measurement (sipd spends seconds of a core tearing
# down after a large TCP run; Kamailio stops its workers one by one). Works for a child of this
# shell (reaped with wait) and for a server a subshell or a script started (kamailio.sh). Bounded by
# STOP_WAIT_S (30) seconds: past it, it says so on stderr and sends SIGKILL. Prints how long the
# exit took on stderr when it took a second or more.
stop_wait() {
    local pid=$1 label=${2:-"pid $1"} bound=${STOP_WAIT_S:-30} t0 el
    local -a all
    [ -n "$pid" ] || return 0
    read -r -a all <<<"$pid $(pgrep -P "$pid" | tr '\n' ' ')"
    t0=$(date +%s.%N)
    kill "$pid" 2>/dev/null
    while is_running "${all[@]}"; do
        el=$(echo "$t0 $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}')
        if awk -v e="$el" -v b="$bound" 'BEGIN { exit !(e >= b) }'; then
            echo "bench: $label (pid $pid) still running ${bound} s after SIGTERM: sent SIGKILL" >&2
            kill -9 "${all[@]}" 2>/dev/null
            sleep 0.5
            wait "$pid" 2>/dev/null
            return 0
        fi
        sleep 0.1
    done
    wait "$pid" 2>/dev/null
    el=$(echo "$t0 $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}')
    if awk -v e="$el" 'BEGIN { exit !(e >= 1) }'; then
        echo "bench: $label (pid $pid) took ${el} s to exit; waited before going on" >&2
    fi
    return 0
}

# tree_cpu PID: CPU-seconds PID has used with its children: utime+stime of PID and of its living
# children, plus cutime+cstime of PID (its children that ended and were reaped: a PostgreSQL
# backend that exits during a run stays counted). Prints "0.000" for a PID that is gone.
tree_cpu() {
    local pid=$1 hz ticks=0 p f
    hz=$(getconf CLK_TCK)
    if [ -r "/proc/$pid/stat" ]; then
        read -r -a f <<<"$(sed 's/^.*) //' "/proc/$pid/stat")"
        ticks=$((f[11] + f[12] + f[13] + f[14]))
        for p in $(pgrep -P "$pid"); do
            read -r -a f <<<"$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null)" || continue
            [ "${#f[@]}" -gt 12 ] && ticks=$((ticks + f[11] + f[12]))
        done
    fi
    echo "$ticks $hz" | awk '{printf "%.3f", $1 / $2}'
}

# pg_postmaster_pid: the PID of the postmaster of the cluster psql reaches (PGHOST/PGPORT, as set
# by pg_virtualenv): the first line of postmaster.pid in its data directory. Empty if unknown.
pg_postmaster_pid() {
    local dir pid
    dir=$(psql -XAtqc 'SHOW data_directory' 2>/dev/null) || return 0
    pid=$(head -1 "$dir/postmaster.pid" 2>/dev/null)
    case $pid in '' | *[!0-9]*) return 0 ;; esac
    [ -d "/proc/$pid" ] && echo "$pid"
}
