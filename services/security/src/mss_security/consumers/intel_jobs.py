"""The worker's threat-intelligence loop: queued imports, then pending retro-hunts.

Both are rows claimed with FOR UPDATE SKIP LOCKED under a lease, so worker replicas share
them and a crashed worker's job is taken up again once its lease runs out.
"""

from __future__ import annotations

import asyncio
import logging

from mss_security.application.intel import UowFactory, hunt_next, import_next

log = logging.getLogger(__name__)

# Idle poll: a retro-hunt of a few indicators lands well within API.md's few seconds.
IDLE_S = 0.5


async def run_intel_jobs(uow_factory: UowFactory, *, idle_s: float = IDLE_S) -> None:
    while True:
        try:
            worked = await import_next(uow_factory)
            worked = await hunt_next(uow_factory) or worked
        except asyncio.CancelledError:
            raise
        except Exception:
            # A job that fails keeps its row (its lease runs out, it is retried); the loop
            # goes on with the others.
            log.exception("threat-intelligence job failed")
            worked = False
        if not worked:
            await asyncio.sleep(idle_s)
