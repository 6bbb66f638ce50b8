"""The SLA clock: deadlines live in the database, and the worker announces the passed ones.

Each round locks a batch of interventions with a deadline passed unmet and unannounced
(`FOR UPDATE SKIP LOCKED`, so replicas share the work and never announce one twice),
records the breach and writes `intervention.sla.breached` to the outbox in the same
transaction. A crash before the commit leaves the rows as they were, and the next round
(of any replica, after any restart) finds them again: exactly one event per deadline.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from prometheus_client import Counter

from mss_contracts.events import EventContext
from mss_db import OrgScope, UnitOfWorkFactory
from mss_intervention.adapters.repository import InterventionRepository
from mss_intervention.application.events import breach_events

log = logging.getLogger("mss.intervention.sla")

BATCH = 500
# Well inside the 60 s the contract allows between a deadline and its event.
INTERVAL_S = 5.0

BREACHES = Counter("mss_intervention_sla_breaches_total", "SLA breaches announced")


async def announce_due_breaches(
    uow_factory: UnitOfWorkFactory, *, now: datetime | None = None, batch: int = BATCH
) -> int:
    """One round: announce up to `batch` interventions' passed deadlines; how many."""
    moment = now or datetime.now(UTC)
    async with uow_factory(OrgScope.everything()) as uow:
        repository = InterventionRepository(uow)
        due = await repository.due_for_breach(moment, limit=batch)
        breached, events = [], []
        for item in due:
            # One correlation per breach: nobody's request caused it.
            after, announced = breach_events(item, moment, EventContext())
            breached.append(after)
            events.extend(announced)
        # Two statements for the whole batch: the clock keeps up with thousands a minute.
        await repository.record_breaches(breached)
        await uow.outbox.add_all(events)
        await uow.commit()
    BREACHES.inc(len(due))
    return len(due)


async def run_sla_clock(uow_factory: UnitOfWorkFactory, *, interval_s: float = INTERVAL_S) -> None:
    """Forever: a round every `interval_s`, at once again while rounds come back full."""
    while True:
        try:
            announced = await announce_due_breaches(uow_factory)
        except Exception:
            log.exception("SLA round failed; retrying")
            announced = 0
        if announced < BATCH:
            await asyncio.sleep(interval_s)
