"""Invitations, password resets and email verifications: each event becomes one mail."""

from __future__ import annotations

from mss_bus.consumer import Effect
from mss_contracts.events import EventEnvelope
from mss_db import UnitOfWork
from mss_notification.application.deliveries import MAIL_EVENTS, Mailer, deliver_mail

BINDINGS = sorted(MAIL_EVENTS)


def on_mail_event(*, mailer: Mailer, public_url: str) -> Effect:
    """The effect `apply_once` runs for a mail-worthy event."""

    async def effect(uow: UnitOfWork, envelope: EventEnvelope) -> None:
        await deliver_mail(uow, envelope, mailer=mailer, public_url=public_url)

    return effect
