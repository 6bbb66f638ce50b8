"""Every event the notification service hears, to the use case that owns it.

- identity's mail-worthy events come on the mail queue (`on_mail_event`); one still
  queued here from before that queue existed is mailed the same way (the queues share the
  inbox, so it is mailed once);
- user.* and organization.*: the projections;
- alerts, interventions, reports (and our own webhook.disabled): notifications, their
  mails, and the deliveries of the organization's webhooks.

All of it inside `apply_batch_once` (a batch of events in one transaction with their inbox
entries) or `apply_once` for one; notifications are pushed live only after that commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from mss_bus.consumer import apply_batch_once, apply_once
from mss_contracts.events import EVENT_TYPES, EventEnvelope
from mss_db import UnitOfWork, UnitOfWorkFactory
from mss_notification.adapters.inbox import StoredNotification
from mss_notification.application.deliveries import MAIL_EVENTS, Mailer, deliver_mail
from mss_notification.application.lookups import Lookups
from mss_notification.application.notify import notify
from mss_notification.application.projections import record_directory_event
from mss_notification.application.webhooks import WEBHOOK_EVENT_BINDINGS, queue_deliveries
from mss_projections import OwnerUnavailable

DIRECTORY_BINDINGS = ["user.created", "user.updated", "user.deleted", "organization.*"]
DIRECTORY_EVENTS = frozenset(
    t for t in EVENT_TYPES if t.startswith("organization.") or t in DIRECTORY_BINDINGS
)
BINDINGS = sorted({*DIRECTORY_BINDINGS, *WEBHOOK_EVENT_BINDINGS, "webhook.disabled"})

Push = Callable[[list[StoredNotification]], Awaitable[None]]


class OwnerNotReachable(ConnectionError):
    """A projection miss whose owner did not answer: a transient failure for the consumer
    (retried, then requeued), never a reason to dead-letter the event."""


class EventHandler:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        mailer: Mailer,
        public_url: str,
        push: Push,
        concurrency: int = 4,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._uow = uow
        # The broker hands over up to its prefetch of messages at once; more transactions
        # than the pool holds would wait on the pool and fail after its timeout (and be
        # dead-lettered). Waiting here instead has no deadline.
        self._gate = asyncio.Semaphore(concurrency)
        self._mailer = mailer
        self._public_url = public_url
        self._push = push
        self._clock = clock

    async def _apply(
        self, uow: UnitOfWork, envelopes: Sequence[EventEnvelope]
    ) -> list[StoredNotification]:
        """The events' effects in `uow`'s transaction, in order; the in-app notifications
        they created. The reads of each run of events between two directory events are
        made once for the run (`Lookups`): a directory event changes what they would say."""
        created: list[StoredNotification] = []
        run: list[EventEnvelope] = []
        for envelope in envelopes:
            if envelope.type in DIRECTORY_EVENTS:
                created.extend(await self._notify_run(uow, run))
                run = []
                await record_directory_event(uow, envelope)
            else:
                run.append(envelope)
        created.extend(await self._notify_run(uow, run))
        return created

    async def _notify_run(
        self, uow: UnitOfWork, run: Sequence[EventEnvelope]
    ) -> list[StoredNotification]:
        if not run:
            return []
        lookups = Lookups(uow)
        await lookups.warm(run)
        created: list[StoredNotification] = []
        for envelope in run:
            if envelope.type in MAIL_EVENTS:
                await deliver_mail(uow, envelope, mailer=self._mailer, public_url=self._public_url)
                continue
            try:
                created.extend(
                    await notify(
                        uow,
                        envelope,
                        lookups=lookups,
                        now=self._clock(),
                        public_url=self._public_url,
                    )
                )
            except OwnerUnavailable as exc:
                raise OwnerNotReachable(str(exc)) from exc
        await queue_deliveries(uow, run, lookups=lookups, now=self._clock())
        return created

    async def __call__(self, envelope: EventEnvelope) -> bool:
        """Apply the event once (False when seen before); then push what it created."""
        created: list[StoredNotification] = []

        async def effect(uow: UnitOfWork, envelope: EventEnvelope) -> None:
            created.extend(await self._apply(uow, [envelope]))

        async with self._gate:
            applied = await apply_once(self._uow, envelope, effect)
        if created:
            await self._push(created)
        return applied

    async def batch(self, envelopes: Sequence[EventEnvelope]) -> list[EventEnvelope]:
        """Apply many events once, in delivery order, in one transaction (one commit: on
        this machine's disks a commit costs ~13 ms, more than an event's own work); then
        push what they created. Returns the events not seen before.

        A mail-worthy event is applied alone: its mail is sent inside its transaction, and
        a later event of the batch failing must not roll back the record of a sent mail."""
        fresh: list[EventEnvelope] = []
        rest = []
        for envelope in envelopes:
            if envelope.type in MAIL_EVENTS:
                if await self(envelope):
                    fresh.append(envelope)
            else:
                rest.append(envelope)
        if not rest:
            return fresh
        created: list[StoredNotification] = []

        async def effect(uow: UnitOfWork, batch: Sequence[EventEnvelope]) -> None:
            created.extend(await self._apply(uow, batch))

        async with self._gate:
            fresh.extend(await apply_batch_once(self._uow, rest, effect))
        if created:
            await self._push(created)
        return fresh
