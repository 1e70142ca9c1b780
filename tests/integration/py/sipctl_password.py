#!/usr/bin/env python3
"""sipctl_password.py - `sipctl user add AOR` without --password on a terminal asks for the
password twice without echoing it (docs/sipctl.1), through a pseudo-terminal as a person types.

    sipctl_password.py SIPCTL AOR PASSWORD

The API URL and token come from SIPCTL_URL / SIPCTL_TOKEN. Checks: both prompts appear, the
password is not echoed, the command says the user was added and exits 0; then two different
answers are refused (exit 1, "differ"). Prints PASS/FAIL lines; exit 1 when any check failed.
"""
import os
import pty
import select
import sys
import time

fails = 0


def show(ok, what, detail=b""):
    global fails
    print(("PASS: " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        fails += 1
        print("    " + detail.decode("utf-8", "replace").replace("\n", "\n    "), flush=True)


def run(argv, answers):
    """Run argv on a pty, typing each answer after the next 'Password' prompt; (output, status)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    out = b""
    deadline = time.time() + 15
    pending = list(answers)
    prompts_seen = 0
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal (it exited)
                data = b""
            if not data:
                _, status = os.waitpid(pid, 0)
                return out, os.waitstatus_to_exitcode(status)
            out += data
        if pending and out.count(b"Password") > prompts_seen:
            prompts_seen += 1
            time.sleep(0.1)
            os.write(fd, pending.pop(0).encode() + b"\n")
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            try:
                while True:
                    r, _, _ = select.select([fd], [], [], 0.1)
                    if not r:
                        break
                    data = os.read(fd, 4096)
                    if not data:
                        break
                    out += data
            except OSError:
                pass
            return out, os.waitstatus_to_exitcode(status)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return out, -1


def main(argv):
    sipctl, aor, pw = argv[:3]
    out, rc = run([sipctl, "user", "add", aor], [pw, pw])
    show(b"Password: " in out and b"Password again: " in out, "both prompts appear", out)
    show(pw.encode() not in out, "the password is not echoed", out)
    show(rc == 0 and b"added" in out, "user added, exit 0 (got %d)" % rc, out)
    out, rc = run([sipctl, "user", "passwd", aor], [pw + "1", pw + "2"])
    show(rc == 1 and b"differ" in out, "two different answers: exit 1, 'differ' (got %d)" % rc, out)
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
