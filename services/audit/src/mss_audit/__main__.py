"""`python -m mss_audit api|worker|check-anchors [FILE]`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from mss_audit import worker
from mss_audit.application.anchors import anchors_broken
from mss_audit.config import SERVICE, AuditSettings
from mss_audit.main import build_runtime
from mss_service.cli import main


def check_anchors() -> None:
    """Compare the database with an anchor file (default: the worker's); exit 1 on a break."""
    settings = AuditSettings()
    anchor_file = Path(sys.argv[2]) if len(sys.argv) > 2 else settings.anchor_file

    async def main() -> list[str]:
        runtime = build_runtime()
        try:
            return await anchors_broken(runtime.uow, anchor_file)
        finally:
            await runtime.close()

    broken = asyncio.run(main())
    for chain_key in broken:
        print(f"chain {chain_key}: an anchored link is no longer in the database")
    if broken:
        sys.exit(1)
    print(f"every anchored chain head in {anchor_file} is still in the database")


if __name__ == "__main__":
    main(
        SERVICE,
        settings=AuditSettings,
        worker=worker.run,
        commands={"check-anchors": check_anchors},
    )
