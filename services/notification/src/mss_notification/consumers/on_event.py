"""Every event the notification service hears, to the use case that owns it.

- identity's mail-worthy events come on the mail queue (`on_mail_event`); one still
  queued here from before that queue existed is mailed the same way (the queues share the
  inbox, so it is mailed once);
- user.* and organization.*: the projections;
- alerts, interventions, reports (and our own webhook.disabled): notifications, their
  mails, and the deliveries of the organization's webhooks.

All of it inside `apply_once` (one transaction with the inbox entry); notifications are
pushed live only after that commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from mss_bus.consumer import apply_once
from mss_contracts.events import EventEnvelope
from mss_db import UnitOfWork, UnitOfWorkFactory
from mss_notification.adapters.inbox import StoredNotification
from mss_notification.application.deliveries import MAIL_EVENTS, Mailer, deliver_mail
from mss_notification.application.notify import notify
from mss_notification.application.projections import record_directory_event
from mss_notification.application.webhooks import WEBHOOK_EVENT_BINDINGS, queue_deliveries
from mss_projections import OwnerUnavailable

DIRECTORY_BINDINGS = ["user.created", "user.updated", "user.deleted", "organization.*"]
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

    async def __call__(self, envelope: EventEnvelope) -> bool:
        """Apply the event once (False when seen before); then push what it created."""
        created: list[StoredNotification] = []

        async def effect(uow: UnitOfWork, envelope: EventEnvelope) -> None:
            if envelope.type in MAIL_EVENTS:
                await deliver_mail(uow, envelope, mailer=self._mailer, public_url=self._public_url)
                return
            await record_directory_event(uow, envelope)
            try:
                created.extend(
                    await notify(uow, envelope, now=self._clock(), public_url=self._public_url)
                )
            except OwnerUnavailable as exc:
                raise OwnerNotReachable(str(exc)) from exc
            await queue_deliveries(uow, envelope, now=self._clock())

        async with self._gate:
            applied = await apply_once(self._uow, envelope, effect)
        if created:
            await self._push(created)
        return applied
