"""The worker's monthly drafts: at the start of each month, last month's report per customer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime

from mss_contracts.events import EventContext
from mss_db import UnitOfWorkFactory
from mss_db.scope import OrgScope
from mss_security.application.reports import draft_monthly_reports

log = logging.getLogger("mss.security.schedule")

# Checked often: a worker started mid-month (or restarted) drafts what is missing at once,
# and the unique index makes every later pass, on any replica, a no-op.
INTERVAL_S = 600.0


async def draft_due_reports(uow: UnitOfWorkFactory, today: date) -> int:
    """One pass: last month's monthly draft for every active customer lacking one."""
    async with uow(OrgScope.everything()) as unit:
        drafted = await draft_monthly_reports(today, uow=unit, ctx=EventContext())
    if drafted:
        log.info("drafted %d monthly reports", len(drafted))
    return len(drafted)


async def run_monthly_drafts(
    uow: UnitOfWorkFactory,
    *,
    interval_s: float = INTERVAL_S,
    today: Callable[[], date] = lambda: datetime.now(UTC).date(),
) -> None:
    while True:
        try:
            await draft_due_reports(uow, today())
        except Exception:
            log.exception("monthly drafts failed; retrying at the next pass")
        await asyncio.sleep(interval_s)
