"""The mails the platform sends: which template, its link, its plain-text body.

Pure rules, no I/O: a token is URL-encoded into the link and appears nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import quote
from uuid import UUID


class Template(StrEnum):
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"
    EMAIL_VERIFICATION = "email_verification"


class NoticeTemplate(StrEnum):
    """Notifications' own mails (no token): one per notification, or one digest."""

    NOTIFICATION = "notification"
    DIGEST = "digest"


_PATHS = {
    Template.INVITATION: "/accept-invitation",
    Template.PASSWORD_RESET: "/reset-password",
    Template.EMAIL_VERIFICATION: "/verify-email",
}

_SUBJECTS = {
    Template.INVITATION: "You are invited to the MSS Platform",
    Template.PASSWORD_RESET: "Reset your MSS Platform password",
    Template.EMAIL_VERIFICATION: "Verify your email address for the MSS Platform",
}

_BODIES = {
    Template.INVITATION: (
        "Hello {name},\n\n"
        "You have been invited to the MSS Platform. To accept the invitation and choose "
        "your password, open this link:\n\n{link}\n\n"
        "The invitation expires at {expires}.\n"
        "If you did not expect this invitation, ignore this mail.\n"
    ),
    Template.PASSWORD_RESET: (
        "Hello,\n\n"
        "Someone asked to reset the password of your MSS Platform account. To choose a new "
        "password, open this link:\n\n{link}\n\n"
        "The link expires at {expires}.\n"
        "If you did not ask for this, ignore this mail: your password stays as it is.\n"
    ),
    Template.EMAIL_VERIFICATION: (
        "Hello,\n\n"
        "To verify your email address for the MSS Platform, open this link:\n\n{link}\n\n"
        "The link expires at {expires}.\n"
    ),
}


@dataclass(frozen=True, slots=True)
class MailRequest:
    """What an event asks us to send (the token is a secret: never logged or stored)."""

    template: Template
    recipient: str
    token: str = ""
    expires_at: datetime | None = None
    recipient_name: str | None = None

    def __repr__(self) -> str:
        return f"MailRequest(template={self.template!s}, recipient={self.recipient!r})"


@dataclass(frozen=True, slots=True)
class Mail:
    """A rendered plain-text mail (the body holds the link with the token: never log it)."""

    template: Template | NoticeTemplate
    recipient: str
    subject: str
    body: str
    # Derived from the event: a mail sent again after a crash (delivery is at least once)
    # carries the same Message-ID, so mail systems can recognise the duplicate.
    message_id: str | None = None

    def __repr__(self) -> str:
        return f"Mail(template={self.template!s}, recipient={self.recipient!r})"


def link_for(template: Template, *, public_url: str, token: str) -> str:
    """`<public url><path>?token=<url-encoded token>`."""
    return f"{public_url.rstrip('/')}{_PATHS[template]}?token={quote(token, safe='')}"


def render(request: MailRequest, *, public_url: str) -> Mail:
    """The plain-text mail for a request."""
    expires = (
        request.expires_at.strftime("%Y-%m-%d %H:%M %Z").strip()
        if request.expires_at is not None
        else "the time set by your administrator"
    )
    body = _BODIES[request.template].format(
        name=request.recipient_name or "there",
        link=link_for(request.template, public_url=public_url, token=request.token),
        expires=expires,
    )
    return Mail(
        template=request.template,
        recipient=request.recipient,
        subject=_SUBJECTS[request.template],
        body=body,
    )


def message_id(ref: UUID) -> str:
    """The Message-ID of the mail sent for `ref` (an event, a queued row, a digest): derived,
    so a mail sent again after a crash (delivery is at least once) is a recognisable
    duplicate."""
    return f"<{ref}@mss.local>"


def notice_mail(
    *,
    recipient: str,
    subject: str,
    body: str,
    ref: UUID,
    template: NoticeTemplate = NoticeTemplate.NOTIFICATION,
) -> Mail:
    """A notification's own mail (no token), identified by what it is sent for."""
    return Mail(
        template=template,
        recipient=recipient,
        subject=subject,
        body=body,
        message_id=message_id(ref),
    )


def list_body(intro: str, subjects: Sequence[str]) -> str:
    """A mail listing several notifications by their subjects (a burst, a digest)."""
    return f"Hello,\n\n{intro}:\n\n" + "\n".join(f"- {s}" for s in subjects) + "\n"
