"""The notification worker: mail-worthy events in, mails out, each outcome in the delivery log."""

from __future__ import annotations

from mss_bus.consumer import EventConsumer, apply_once, watch_dlq
from mss_contracts.events import EventEnvelope
from mss_notification.adapters.smtp import SmtpMailer
from mss_notification.config import SERVICE, NotificationSettings
from mss_notification.consumers.on_mail_event import BINDINGS, on_mail_event
from mss_notification.main import build_runtime


async def run() -> None:
    runtime = build_runtime()
    settings = NotificationSettings()
    effect = on_mail_event(mailer=SmtpMailer(settings), public_url=settings.public_url)

    async def handle(envelope: EventEnvelope) -> None:
        await apply_once(runtime.uow, envelope, effect)

    consumer = EventConsumer(bus=runtime.bus, service=SERVICE, bindings=BINDINGS, handler=handle)
    try:
        await consumer.start()
        await watch_dlq(consumer)
    finally:
        await runtime.close()
