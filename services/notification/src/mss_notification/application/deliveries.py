"""Notification use cases: turn a mail-worthy event into a mail, send it, log the outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol
from urllib.parse import quote

from mss_contracts.events import (
    EmailVerificationRequested,
    EventEnvelope,
    PasswordResetRequested,
    UserInvited,
)
from mss_db import UnitOfWork
from mss_notification.adapters.repository import DeliveryRepository
from mss_notification.domain.delivery import SendOutcome, scrub
from mss_notification.domain.errors import NotMailWorthy
from mss_notification.domain.mail import Mail, MailRequest, Template, message_id, render

log = logging.getLogger("mss.notification")


class Mailer(Protocol):
    async def send(self, mail: Mail, /) -> SendOutcome: ...


def _invitation(data: dict[str, Any]) -> MailRequest:
    event = UserInvited.model_validate(data)
    return MailRequest(
        template=Template.INVITATION,
        recipient=event.email,
        token=event.invitation_token,
        expires_at=event.expires_at,
        recipient_name=f"{event.first_name} {event.last_name}".strip() or None,
    )


def _password_reset(data: dict[str, Any]) -> MailRequest:
    event = PasswordResetRequested.model_validate(data)
    return MailRequest(
        template=Template.PASSWORD_RESET,
        recipient=event.email,
        token=event.reset_token,
        expires_at=event.expires_at,
    )


def _email_verification(data: dict[str, Any]) -> MailRequest:
    event = EmailVerificationRequested.model_validate(data)
    return MailRequest(
        template=Template.EMAIL_VERIFICATION,
        recipient=event.email,
        token=event.verification_token,
        expires_at=event.expires_at,
    )


MAIL_EVENTS: dict[str, Callable[[dict[str, Any]], MailRequest]] = {
    UserInvited.event_type: _invitation,
    PasswordResetRequested.event_type: _password_reset,
    EmailVerificationRequested.event_type: _email_verification,
}


def mail_request(envelope: EventEnvelope) -> MailRequest:
    """What mail an event asks for."""
    parse = MAIL_EVENTS.get(envelope.type)
    if parse is None:
        raise NotMailWorthy(f"no mail for events of type {envelope.type}")
    return parse(envelope.data)


async def deliver_mail(
    uow: UnitOfWork, envelope: EventEnvelope, *, mailer: Mailer, public_url: str
) -> SendOutcome:
    """Consumer effect: render and send the event's mail, then log the outcome (no token)."""
    request = mail_request(envelope)
    mail = replace(render(request, public_url=public_url), message_id=message_id(envelope.id))
    outcome = await mailer.send(mail)
    if outcome.error is not None:
        secrets = (request.token, quote(request.token, safe=""))
        outcome = replace(outcome, error=scrub(outcome.error, secrets=secrets))
    await DeliveryRepository(uow).record(
        event_id=envelope.id, org_id=envelope.organization_id, mail=mail, outcome=outcome
    )
    log.info(
        "%s mail for event %s: %s after %d attempt(s)",
        mail.template,
        envelope.id,
        outcome.status,
        outcome.attempts,
    )
    return outcome
