"""The outbox relay: publishes committed events with confirms, then deletes them.

Woken at once by the committing process (an in-process event), and otherwise polling
with a back-off that resets on activity. `FOR UPDATE SKIP LOCKED` lets the API
processes and the workers of a service relay side by side without double work; a crash
between publish and delete only repeats an event, which consumers' inboxes absorb.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy import ARRAY, Text, Uuid, any_, bindparam, cast, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mss_bus.connection import Bus
from mss_bus.metrics import EVENTS_PUBLISHED, OUTBOX_LAG, PUBLISH_FAILURES
from mss_db.engine import scoped_transaction
from mss_db.scope import OrgScope
from mss_db.tables import outbox_table

log = logging.getLogger("mss.outbox")

BATCH = 200
MIN_POLL_S = 0.05
MAX_POLL_S = 1.0
MAX_BACKOFF_S = 5.0


class OutboxRelay:
    def __init__(
        self, *, engine: AsyncEngine, schema: str, bus: Bus, service: str, wake: asyncio.Event
    ) -> None:
        self._engine = engine
        self._bus = bus
        self._service = service
        self._wake = wake
        outbox = outbox_table(schema)
        # The payload as the server's text: published as it is, never decoded to be
        # encoded again.
        self._select = (
            select(
                outbox.c.id,
                outbox.c.event_type,
                cast(outbox.c.payload, Text).label("payload"),
                outbox.c.created_at,
            )
            .order_by(outbox.c.created_at, outbox.c.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        # `= ANY(array)`: one statement whatever the batch size (IN would vary with it).
        self._delete = delete(outbox).where(
            outbox.c.id == any_(bindparam("ids", type_=ARRAY(Uuid)))
        )

    async def drain_once(self) -> int:
        """Publish one batch; returns how many events left the outbox."""
        async with scoped_transaction(self._engine, OrgScope.everything()) as conn:
            rows = (await conn.execute(self._select)).all()
            if not rows:
                OUTBOX_LAG.labels(self._service).set(0)
                return 0
            oldest: datetime = rows[0].created_at
            OUTBOX_LAG.labels(self._service).set((datetime.now(UTC) - oldest).total_seconds())
            await asyncio.gather(
                *(
                    self._bus.publish(
                        routing_key=row.event_type,
                        body=row.payload.encode(),
                        message_id=str(row.id),
                    )
                    for row in rows
                )
            )
            await conn.execute(self._delete, {"ids": [row.id for row in rows]})
        EVENTS_PUBLISHED.labels(self._service).inc(len(rows))
        return len(rows)

    async def run(self) -> None:
        """Relay until cancelled."""
        poll = MIN_POLL_S
        backoff = MIN_POLL_S
        while True:
            # Cleared before draining: a commit landing during the drain wakes the next wait.
            self._wake.clear()
            try:
                published = await self.drain_once()
                backoff = MIN_POLL_S
            except asyncio.CancelledError:
                raise
            except Exception:
                PUBLISH_FAILURES.labels(self._service).inc()
                log.warning("outbox publish failed; retrying in %.2fs", backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            if published == BATCH:
                continue
            if published:
                poll = MIN_POLL_S
            try:
                # Not wait_for: on 3.11 it swallows a cancel that lands as the wake fires,
                # and the relay would then outlive the shutdown that cancelled it.
                async with asyncio.timeout(poll):
                    await self._wake.wait()
                poll = MIN_POLL_S
            except TimeoutError:
                poll = min(poll * 2, MAX_POLL_S)
