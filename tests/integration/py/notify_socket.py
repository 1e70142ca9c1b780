#!/usr/bin/env python3
"""notify_socket.py SOCKET OUT SECONDS - play systemd's side of sd_notify(3): bind a unix
datagram socket at SOCKET and append every datagram received (one per line, newlines inside a
datagram shown as '|') to OUT, for SECONDS at most. t_notify.sh starts sipd with NOTIFY_SOCKET
pointing here."""
import os
import socket
import sys
import time

path, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.2)
end = time.monotonic() + seconds
with open(out, "a", buffering=1) as f:
    while time.monotonic() < end:
        try:
            data = s.recv(4096)
        except socket.timeout:
            continue
        f.write(data.decode("utf-8", "replace").replace("\n", "|") + "\n")
os.unlink(path)
