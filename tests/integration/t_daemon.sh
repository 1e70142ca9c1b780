#!/bin/bash
# t_daemon.sh - sipd started without --foreground (it daemonizes after building the server):
# a next hop given by host name is resolved (the resolver's thread must live in the daemon, not
# in the parent that exits), and SIGTERM stops the daemon within 5 s (it once hung in
# resolver_destroy on a thread that did not survive the fork). The REST API's threads, too, must
# run in the daemon: /healthz answers from it.
. "$(dirname "$0")/lib.sh"

name=$(hostname)
ip=$(getent ahostsv4 "$name" | awk 'NR == 1 {print $1}')
if [ -z "$ip" ]; then name=localhost.localdomain; ip=$(getent ahostsv4 "$name" | awk 'NR == 1 {print $1}'); fi
[ -n "$ip" ] || bail "no host name resolves here (hostname: $(hostname))"
SIP_PORT=$(pick_port) || bail "no free port"
API_PORT=$(pick_port) || bail "no free port"
pidfile=$T_DIR/daemon.pid
"$SIPD" --listen "udp:$SIP_HOST:$SIP_PORT,tcp:$SIP_HOST:$SIP_PORT" --domain "$DOMAIN" --api "$SIP_HOST:$API_PORT" \
    --pidfile "$pidfile" --log-level info >"$T_DIR/parent.log" 2>&1
rc=$?
check "sipd without --foreground returns 0 once the daemon runs (got $rc)" test "$rc" -eq 0
for _ in $(seq 1 50); do [ -s "$pidfile" ] && sip_ping udp "$SIP_HOST" "$SIP_PORT" 0.3 && break; sleep 0.1; done
pid=$(cat "$pidfile" 2>/dev/null)
[ -n "$pid" ] || bail "no pidfile written"
track_pid "$pid"
check "the daemon answers" sip_ping udp "$SIP_HOST" "$SIP_PORT" 1
check "a next hop by host name ($name -> $ip) is resolved and reached (py/daemon_dns.py)" \
    run_py daemon_dns.py "$SIP_HOST" "$SIP_PORT" "$name" "$ip"
check "the daemon's REST API answers /healthz" \
    bash -c "curl -sf --max-time 5 http://$SIP_HOST:$API_PORT/healthz | grep -q '\"status\":\"ok\"'"
kill -TERM "$pid"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check "the daemon is gone within 5 s of SIGTERM" bash -c "! kill -0 $pid 2>/dev/null"
finish
