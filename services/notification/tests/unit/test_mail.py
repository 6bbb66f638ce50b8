"""Templates and links: what each mail-worthy event becomes, with no I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from mss_contracts.events import (
    EmailVerificationRequested,
    EventContext,
    EventData,
    EventEnvelope,
    PasswordChanged,
    PasswordResetRequested,
    UserInvited,
    new_event,
)
from mss_contracts.permissions import Role

# isort: split
from mss_notification.application.deliveries import mail_request
from mss_notification.consumers.on_mail_event import BINDINGS
from mss_notification.domain.delivery import DeliveryStatus, SendOutcome, scrub
from mss_notification.domain.errors import NotMailWorthy
from mss_notification.domain.mail import Mail, MailRequest, Template, link_for, render

PUBLIC = "https://mss.example.com"
EXPIRES = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
TOKEN = "s3cr3t/+=&?token"


def _envelope(data: EventData) -> EventEnvelope:
    return new_event(
        data,
        aggregate_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        version=1,
        context=EventContext(),
    )


class TestLinks:
    @pytest.mark.parametrize(
        ("template", "path"),
        [
            (Template.INVITATION, "/accept-invitation"),
            (Template.PASSWORD_RESET, "/reset-password"),
            (Template.EMAIL_VERIFICATION, "/verify-email"),
        ],
    )
    def test_link_points_at_the_template_page_of_the_public_url(
        self, template: Template, path: str
    ) -> None:
        link = link_for(template, public_url=PUBLIC + "/", token="abc")
        assert link == f"{PUBLIC}{path}?token=abc"

    def test_token_is_url_encoded_and_decodes_back(self) -> None:
        link = link_for(Template.PASSWORD_RESET, public_url=PUBLIC, token=TOKEN)
        assert TOKEN not in link
        assert "%2F" in link
        assert "%26" in link
        assert parse_qs(urlsplit(link).query) == {"token": [TOKEN]}


class TestRender:
    def test_invitation_greets_by_name_and_carries_the_link_and_expiry(self) -> None:
        mail = render(
            MailRequest(
                template=Template.INVITATION,
                recipient="ada@example.com",
                token=TOKEN,
                expires_at=EXPIRES,
                recipient_name="Ada Lovelace",
            ),
            public_url=PUBLIC,
        )
        assert mail.recipient == "ada@example.com"
        assert mail.subject == "You are invited to the MSS Platform"
        assert "Hello Ada Lovelace," in mail.body
        assert link_for(Template.INVITATION, public_url=PUBLIC, token=TOKEN) in mail.body
        assert "2030-01-02 03:04 UTC" in mail.body

    @pytest.mark.parametrize("template", list(Template))
    def test_every_template_renders_plain_text_with_one_link(self, template: Template) -> None:
        mail = render(
            MailRequest(template=template, recipient="x@example.com", token="t0k"),
            public_url=PUBLIC,
        )
        assert mail.body.count(f"{PUBLIC}/") == 1
        assert "token=t0k" in mail.body
        assert "<" not in mail.body

    def test_repr_never_shows_the_token_or_the_body(self) -> None:
        request = MailRequest(template=Template.INVITATION, recipient="a@example.com", token=TOKEN)
        mail = render(request, public_url=PUBLIC)
        assert TOKEN not in repr(request)
        assert "token" not in repr(mail)
        assert isinstance(mail, Mail)


class TestMailRequest:
    def test_user_invited_becomes_an_invitation(self) -> None:
        envelope = _envelope(
            UserInvited(
                email="new@example.com",
                first_name="New",
                last_name="User",
                role=Role.BASIC_USER,
                invitation_token=TOKEN,
                expires_at=EXPIRES,
            )
        )
        request = mail_request(envelope)
        assert request.template is Template.INVITATION
        assert request.recipient == "new@example.com"
        assert request.token == TOKEN
        assert request.recipient_name == "New User"

    def test_password_reset_and_verification(self) -> None:
        reset = mail_request(
            _envelope(
                PasswordResetRequested(email="r@example.com", reset_token="r", expires_at=EXPIRES)
            )
        )
        verify = mail_request(
            _envelope(
                EmailVerificationRequested(
                    email="v@example.com",
                    verification_token="v",
                    expires_at=EXPIRES + timedelta(days=1),
                )
            )
        )
        assert (reset.template, reset.token) == (Template.PASSWORD_RESET, "r")
        assert (verify.template, verify.token) == (Template.EMAIL_VERIFICATION, "v")

    def test_an_event_without_a_mail_is_refused(self) -> None:
        with pytest.raises(NotMailWorthy):
            mail_request(_envelope(PasswordChanged(email="c@example.com")))

    def test_the_worker_binds_exactly_the_mail_worthy_events(self) -> None:
        assert (
            sorted(
                [
                    "user.invited",
                    "auth.password.reset_requested",
                    "auth.email.verification_requested",
                ]
            )
            == BINDINGS
        )


class TestOutcome:
    def test_status_follows_the_error(self) -> None:
        assert SendOutcome(attempts=1).status is DeliveryStatus.SENT
        assert SendOutcome(attempts=3, error="boom").status is DeliveryStatus.FAILED

    def test_scrub_removes_secrets_and_bounds_the_length(self) -> None:
        assert scrub("rejected abc and abc", secrets=("abc", "")) == (
            "rejected [REDACTED] and [REDACTED]"
        )
        assert len(scrub("x" * 10_000, secrets=())) == 500
