"""Access transparency: provider staff's reads of customer data, journaled for the customer.

Every read by a provider user of a customer organization's data becomes a
`customer_data.accessed` event in that organization's audit log (writes have their own
domain events). Requests only append to an in-memory journal; a background task writes
the journal to the outbox in batches, so a read costs no extra database round trip.
A hard crash loses at most one flush interval of entries; a graceful stop flushes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable
from uuid import UUID

from fastapi import Request
from prometheus_client import Counter as Metric

from mss_auth.principal import Principal
from mss_contracts.events import CustomerDataAccessed, EventContext, EventEnvelope, new_event
from mss_contracts.permissions import OrganizationType
from mss_db.scope import OrgScope
from mss_db.uow import UnitOfWorkFactory

log = logging.getLogger("mss.transparency")

DROPPED = Metric(
    "mss_access_journal_dropped_total",
    "Access-transparency entries dropped because the journal was full (database down)",
)


class AccessJournal:
    """Bounded in-memory journal of access events, flushed to the outbox in batches."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        flush_interval_s: float = 0.25,
        max_batch: int = 500,
        capacity: int = 50_000,
    ) -> None:
        self._uow = uow
        self._interval = flush_interval_s
        self._max_batch = max_batch
        self._pending: deque[EventEnvelope] = deque()
        self._capacity = capacity
        self._ready = asyncio.Event()

    def record(
        self,
        request: Request,
        principal: Principal,
        context: Callable[[], EventContext],
        *,
        resource_type: str,
        org_ids: Iterable[UUID],
        resource_id: UUID | None = None,
    ) -> int:
        """Journal a read of `org_ids`' data (one entry per customer org); returns how many.

        `context` is built only when there is something to journal: customers' own reads,
        the common case, cost nothing here.
        """
        if principal.org_type is not OrganizationType.MSS_PROVIDER:
            return 0
        counts = Counter(org for org in org_ids if org != principal.org_id)
        if not counts:
            return 0
        caused_by = context()
        for org_id, count in counts.items():
            self._append(
                new_event(
                    CustomerDataAccessed(
                        method=request.method,
                        path=request.url.path,
                        actor_role=principal.role,
                        resource_count=count,
                    ),
                    aggregate_id=resource_id or org_id,
                    aggregate_type=resource_type,
                    organization_id=org_id,
                    version=1,
                    context=caused_by,
                )
            )
        return len(counts)

    def _append(self, envelope: EventEnvelope) -> None:
        if len(self._pending) >= self._capacity:
            self._pending.popleft()
            DROPPED.inc()
            log.error("access journal full: oldest entry dropped")
        self._pending.append(envelope)
        if len(self._pending) >= self._max_batch:
            self._ready.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> None:
        """Write everything journaled so far; on failure the entries stay for the next try."""
        while self._pending:
            batch = [self._pending[i] for i in range(min(self._max_batch, len(self._pending)))]
            async with self._uow(OrgScope.everything()) as uow:
                await uow.outbox.add_all(batch)
                await uow.commit()
            for _ in batch:
                self._pending.popleft()

    async def run(self) -> None:
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._interval):
                        await self._ready.wait()
                self._ready.clear()
                try:
                    await self.flush()
                except Exception:
                    log.exception("access journal flush failed; retrying")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush())
