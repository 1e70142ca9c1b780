# free_port: prints a random port in 20000-40000 that no TCP or UDP socket on this machine uses
# (sourced by the bench scripts; a race with another program remains possible but unlikely).
free_port() {
    local p i
    for i in $(seq 1 50); do
        p=$((20000 + RANDOM % 20000))
        if ! ss -Hlntu "( sport = :$p or sport = :$((p + 1)) )" 2>/dev/null | grep -q .; then
            echo "$p"; return 0
        fi
    done
    echo "$p"
}
