#!/usr/bin/env python3
"""sipctl_shell.py - drive sipctl's interactive shell through a pseudo-terminal, as a person
would type: Tab completes a command word (and a node name when NODE is given), the up arrow
recalls the previous line from the history, and `watch heartbeats` draws its table, redraws it
when an event arrives (TRIGGER is a shell command run meanwhile that causes one) and gives the
prompt back on Ctrl-C with the terminal restored.

    sipctl_shell.py SIPCTL HOME [--node NAME] [--trigger 'CMD']

The API URL and token come from SIPCTL_URL / SIPCTL_TOKEN in the environment; HOME is where
~/.sipctl_history goes. Prints PASS/FAIL/SKIP lines; exit 1 when any check failed.
"""
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]|\r")
fails = 0


def show(ok, what):
    global fails
    print(("PASS: " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        fails += 1


class Term:
    """sipctl on the slave side of a pty; everything it writes is kept in self.raw."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(argv[0], argv, env)
        self.raw = b""

    def read_for(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([self.fd], [], [], max(0.0, end - time.time()))
            if not r:
                break
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                break
            if not data:
                break
            self.raw += data

    def expect(self, pattern, timeout=5.0, since=0):
        """Wait until the visible text after offset SINCE (in raw bytes) matches PATTERN."""
        end = time.time() + timeout
        while True:
            if re.search(pattern, ANSI.sub(b"", self.raw[since:])):
                return True
            left = end - time.time()
            if left <= 0:
                return False
            self.read_for(min(left, 0.2))

    def send(self, data):
        os.write(self.fd, data)

    def mark(self):
        return len(self.raw)

    def wait_exit(self, timeout=5.0):
        end = time.time() + timeout
        while time.time() < end:
            self.read_for(0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        return None


def main():
    args = sys.argv[1:]
    sipctl, home = args[0], args[1]
    node = trigger = None
    if "--node" in args:
        node = args[args.index("--node") + 1]
    if "--trigger" in args:
        trigger = args[args.index("--trigger") + 1]
    env = dict(os.environ, HOME=home, TERM="xterm", COLUMNS="160", LINES="40", INPUTRC="/dev/null")
    t = Term([sipctl], env)
    show(t.expect(rb"sipctl> "), "the shell prints its prompt")

    # completion of a command word: "heartb<Tab>" becomes "heartbeats "
    m = t.mark()
    t.send(b"heartb\t")
    show(t.expect(rb"heartbeats $", 3, m), "Tab completes 'heartb' to 'heartbeats '")
    if node:
        # completion of a node name, asked from GET /api/v1/nodes
        m = t.mark()
        t.send(node[:-1].encode() + b"\t")
        show(t.expect(re.escape(node.encode()) + rb" $", 3, m),
             "Tab completes a node name (%s) from the API" % node)
    m = t.mark()
    t.send(b"\r")
    if node:
        t.expect(rb"sipctl> ", 5, m)
        show(t.expect(rb"TIME\s+AGE\s+OK\s+RTT\s+WORK", 1, m),
             "'heartbeats %s' prints the beats table" % node)
    else:
        show(t.expect(rb"NODE\s+STATE\s+LAST HEARTBEAT", 5, m) and t.expect(rb"sipctl> ", 5, m),
             "'heartbeats' prints the table of last beats")

    m = t.mark()
    t.send(b"node dr\t")
    show(t.expect(rb"node drain $", 3, m), "Tab completes a subcommand ('node dr' -> 'node drain ')")
    t.send(b"\x15")  # Ctrl-U: drop the line

    # the history: run `nodes`, then the up arrow brings it back
    m = t.mark()
    t.send(b"nodes\r")
    show(t.expect(rb"NID\s+NAME\s+STATE", 5, m) and t.expect(rb"sipctl> ", 5, m), "'nodes' prints the nodes table")
    m = t.mark()
    t.send(b"\x1b[A")
    show(t.expect(rb"\Anodes", 3, m), "the up arrow recalls 'nodes'")  # readline echoes the line
    t.send(b"\r")
    show(t.expect(rb"NID\s+NAME\s+STATE", 5, m), "... and Enter runs it again")
    t.expect(rb"sipctl> ", 5, m)

    # watch heartbeats: draws, redraws on an event, Ctrl-C gives the prompt back
    m = t.mark()
    t.send(b"watch heartbeats\r")
    drawn = t.expect(rb"watch heartbeats.*events: 0", 5, m)
    show(drawn, "'watch heartbeats' draws the table (events: 0)")
    show(b"\x1b[?1049h" in t.raw[m:], "... on the alternate screen")
    if drawn:
        if trigger:
            subprocess.run(trigger, shell=True, stdout=subprocess.DEVNULL, timeout=20)
        show(t.expect(rb"events: [1-9]", 8, m),
             "... and redraws when an event arrives (events: 1 or more%s)"
             % (", after '%s'" % trigger if trigger else ""))
    m = t.mark()
    t.send(b"\x03")
    show(t.expect(rb"watched \d+ events", 5, m) and t.expect(rb"sipctl> ", 5, m),
         "Ctrl-C ends the watch and gives the prompt back")
    after = t.raw[m:]
    show(b"\x1b[?1049l" in after and b"\x1b[?25h" in after,
         "... restoring the main screen and the cursor")
    m = t.mark()
    t.send(b"nodes --json\r")
    show(t.expect(rb'"items": \[', 5, m) and t.expect(rb"sipctl> ", 5, m),
         "'nodes --json' in the shell prints the JSON")
    m = t.mark()
    t.send(b"help\r")
    show(t.expect(rb"watch heartbeats", 3, m), "'help' lists the commands")
    t.expect(rb"sipctl> ", 3, m)
    t.send(b"quit\r")
    rc = t.wait_exit()
    show(rc == 0, "'quit' leaves with status 0 (got %s)" % rc)
    try:
        hist = open(os.path.join(home, ".sipctl_history")).read().split("\n")
    except OSError:
        hist = []
    show("nodes" in hist and "watch heartbeats" in hist,
         "~/.sipctl_history keeps the lines typed")

    # a second shell starts with that history
    t = Term([sipctl], env)
    t.expect(rb"sipctl> ")
    m = t.mark()
    t.send(b"\x1b[A")
    show(t.expect(rb"\Aquit", 3, m), "a new shell recalls the last line of the previous one")
    t.send(b"\x15\x04")  # Ctrl-U, Ctrl-D: end of input
    rc = t.wait_exit()
    show(rc == 0, "Ctrl-D leaves with status 0 (got %s)" % rc)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
