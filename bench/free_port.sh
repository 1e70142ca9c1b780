# shellcheck shell=bash
# free_port: prints a random port in 20000-40000 that no TCP or UDP socket on this machine uses
# (sourced by the bench scripts). It prefers ports below the kernel's ephemeral range, because the
# load clients open thousands of connections whose local ports come from that range and a listener
# cannot bind a port an open connection holds. A race with another program remains possible.
free_port() {
    local lo=20000 hi=40000 elo p _
    elo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    [ -n "$elo" ] && [ "$elo" -gt 21000 ] && [ "$elo" -le 40000 ] && hi=$((elo - 2))
    for _ in $(seq 1 50); do
        p=$((lo + RANDOM % (hi - lo)))
        if ! ss -Hantu "( sport = :$p or sport = :$((p + 1)) )" 2>/dev/null | grep -q .; then
            echo "$p"; return 0
        fi
    done
    echo "$p"
}
