"""Start a detached process: own session, stdin closed, output to a log, no inherited fds.

`spawn.py LOG PIDFILE -- COMMAND...` (a shell's `nohup … &` would leak its open
descriptors, and whoever waits on them would wait for the platform to stop).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> None:
    log, pidfile, sep, *command = sys.argv[1:]
    if sep != "--" or not command:
        raise SystemExit("usage: spawn.py LOG PIDFILE -- COMMAND...")
    with Path(log).open("ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    if pidfile != "-":
        Path(pidfile).write_text(f"{process.pid}\n")
    if command[0].endswith("nginx"):
        # NGINX daemonizes: wait for the master to hand over, and report its result.
        sys.exit(process.wait())


if __name__ == "__main__":
    main()
