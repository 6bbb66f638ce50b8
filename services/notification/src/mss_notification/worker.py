"""The notification worker: events in (mails, projections, notifications, webhook
deliveries), the outbox relayed, and the durable queues worked off: mails whose quiet hours
have ended, digests, webhook deliveries and their retries.

Two queues (services/registry.toml): `notification.mail` brings identity's account mails
(invitations, password resets, email verifications) and nothing else, so a flood of alerts
on `notification.events` never holds an invitation back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from mss_bus.consumer import BatchConsumer, EventConsumer, apply_once, watch_dlq
from mss_contracts.events import EventEnvelope
from mss_notification.adapters.live import LivePublisher
from mss_notification.adapters.sealing import SecretSealer, webhook_key
from mss_notification.adapters.smtp import SmtpMailer
from mss_notification.adapters.webhook_http import WebhookCaller
from mss_notification.application.deliveries import Mailer
from mss_notification.application.mails import send_digests, send_due_mails
from mss_notification.application.webhooks import BATCH, deliver_due
from mss_notification.config import SERVICE, NotificationSettings
from mss_notification.consumers import on_mail_event
from mss_notification.consumers.on_event import BINDINGS, EventHandler
from mss_notification.main import build_runtime
from mss_service import ServiceRuntime

log = logging.getLogger("mss.notification.worker")

MAIL_QUEUE = "mail"
# Account mails are few; a handful at once keeps the pool for the events consumer.
MAIL_CONCURRENCY = 4
# Events per transaction: a batch forms only when events wait (a quiet queue applies each
# at once), and an alert flood's events commit together instead of paying a commit each.
EVENT_BATCH = 100
# Batches applied side by side: an event's cost is mostly round trips to PostgreSQL, so a
# few transactions at once keep up with a flood a single one could not (the pool keeps a
# connection or two for the mail and webhook loops).
EVENT_BATCHES_AT_ONCE = 4


def webhook_caller(settings: NotificationSettings) -> WebhookCaller:
    return WebhookCaller(
        allow_private=settings.webhook_allow_private,
        connect_timeout_s=settings.webhook_connect_timeout_s,
        timeout_s=settings.webhook_timeout_s,
    )


async def every(interval_s: float, work: Callable[[], Awaitable[int]], name: str) -> None:
    """Run `work` again at once while it finds something, else after `interval_s`."""
    while True:
        try:
            done = await work()
        except Exception:
            log.exception("%s failed; trying again", name)
            done = 0
        if not done:
            await asyncio.sleep(interval_s)


def handler_for(
    runtime: ServiceRuntime, settings: NotificationSettings, *, mailer: Mailer
) -> EventHandler:
    return EventHandler(
        uow=runtime.uow,
        mailer=mailer,
        public_url=settings.public_url,
        push=LivePublisher(runtime.redis, namespace=settings.bus_namespace),
        # Leave a connection or two of the pool to the mail and webhook loops.
        concurrency=max(1, settings.db_pool_size - 2),
    )


def consumers(
    runtime: ServiceRuntime, settings: NotificationSettings, *, mailer: Mailer
) -> tuple[BatchConsumer, EventConsumer]:
    """The consumers of the two queues: (events in batches, mail one by one)."""
    handler = handler_for(runtime, settings, mailer=mailer)
    effect = on_mail_event.on_mail_event(mailer=mailer, public_url=settings.public_url)
    gate = asyncio.Semaphore(MAIL_CONCURRENCY)

    async def handle(envelope: EventEnvelope) -> None:
        await handler(envelope)

    async def handle_mail(envelope: EventEnvelope) -> None:
        async with gate:
            await apply_once(runtime.uow, envelope, effect)

    events = BatchConsumer(
        bus=runtime.bus,
        service=SERVICE,
        bindings=BINDINGS,
        # Before the mail queue, the events queue was bound to the account mails too.
        retired_bindings=on_mail_event.BINDINGS,
        batch_handler=handler.batch,
        handler=handle,
        batch_size=EVENT_BATCH,
        concurrency=EVENT_BATCHES_AT_ONCE,
    )
    mail = EventConsumer(
        bus=runtime.bus,
        service=SERVICE,
        queue=MAIL_QUEUE,
        bindings=on_mail_event.BINDINGS,
        handler=handle_mail,
    )
    return events, mail


async def run() -> None:
    runtime = build_runtime()
    settings = NotificationSettings()
    mailer = SmtpMailer(settings)
    caller = webhook_caller(settings)
    sealer = SecretSealer(webhook_key(settings))

    async def webhooks() -> int:
        done = await deliver_due(runtime.uow, caller=caller, sealer=sealer)
        return done if done >= BATCH else 0

    events, mail = consumers(runtime, settings, mailer=mailer)
    poll = settings.poll_interval_s
    try:
        await mail.start()
        await events.start()
        await asyncio.gather(
            runtime.relay().run(),
            watch_dlq(events),
            watch_dlq(mail),
            every(poll, lambda: send_due_mails(runtime.uow, mailer=mailer), "mails"),
            every(30.0, lambda: send_digests(runtime.uow, mailer=mailer), "digests"),
            every(poll, webhooks, "webhooks"),
        )
    finally:
        await events.close()
        await caller.close()
        await runtime.close()
