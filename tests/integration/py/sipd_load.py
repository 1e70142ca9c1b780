#!/usr/bin/env python3
"""sipd_load.py - print the Sipd-Load header of sipd's answer to an OPTIONS (docs/cluster.md).

    sipd_load.py TRANSPORT HOST PORT [TIMEOUT_S]

Prints the header's value ("work=0;max=1000;state=active") and exits 0; exits 1 when there is
no 200, or it carries no Sipd-Load (or more than one).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import options  # noqa: E402


def main(transport, host, port, timeout=2.0):
    r = options(transport, host, port, timeout, user="probe")
    if r is None or r.status != 200:
        sys.stderr.write("sipd_load: no 200 (%s)\n" % (r.summary() if r else "no answer"))
        return 1
    values = r.get_all("sipd-load")
    if len(values) != 1:
        sys.stderr.write("sipd_load: %d Sipd-Load headers\n" % len(values))
        return 1
    print(values[0].strip())
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.stderr.write(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]),
                  float(sys.argv[4]) if len(sys.argv) > 4 else 2.0))
