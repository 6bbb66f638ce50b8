"""The local SMTP sink: every message it receives lands in a Maildir, nothing is relayed.

`python scripts/lib/mail_sink.py [--host 127.0.0.1] [--port 1025] [--dir $MSS_RUN_DIR/mail]`

scripts/up starts it when no SMTP server is configured (MSS_SMTP_HOST unset), so
invitations and password resets work on a laptop: read them in `.run/mail/new/`.
"""

from __future__ import annotations

import argparse
import logging
import mailbox
import os
import signal
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

log = logging.getLogger("mss.mail_sink")


class MaildirSink:
    """aiosmtpd handler: each accepted message becomes one file of the Maildir."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # Maildir(create=True) makes tmp/new/cur only for a new directory: make them always.
        for sub in ("tmp", "new", "cur"):
            (directory / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        self._maildir = mailbox.Maildir(directory, create=False)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode()
        recipients = ", ".join(envelope.rcpt_tos)
        header = f"X-Mss-Envelope-To: {recipients}\r\n".encode()
        with self._lock:
            key = self._maildir.add(header + data)
        log.info("stored message %s for %d recipient(s)", key, len(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def start(directory: Path, *, host: str = "127.0.0.1", port: int = 1025) -> Controller:
    """A running sink (in a thread of its own); `.stop()` it when done."""
    controller = Controller(MaildirSink(directory), hostname=host, port=port)
    controller.start()
    return controller


def main() -> None:
    run_dir = Path(os.environ.get("MSS_RUN_DIR", ".run"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, default=run_dir / "mail")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # aiosmtpd logs every SMTP exchange at INFO; the mails carry one-time tokens: keep it quiet.
    logging.getLogger("mail.log").setLevel(logging.WARNING)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    controller = start(args.dir, host=args.host, port=args.port)
    log.info("SMTP sink on %s:%d, Maildir %s", args.host, args.port, args.dir)
    try:
        stop.wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
