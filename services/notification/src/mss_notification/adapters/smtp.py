"""Sending mail over SMTP (aiosmtplib), retried with back-off on SMTP and connection errors;
a batch of mails shares one SMTP session."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from mss_notification.config import NotificationSettings
from mss_notification.domain.delivery import SendOutcome
from mss_notification.domain.mail import Mail

log = logging.getLogger("mss.notification.smtp")

RETRYABLE: tuple[type[BaseException], ...] = (aiosmtplib.SMTPException, OSError, TimeoutError)


class SmtpMailer:
    """Sends rendered mails; reports the outcome instead of raising on delivery failures."""

    def __init__(self, settings: NotificationSettings) -> None:
        self._settings = settings

    def message(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._settings.mail_from
        message["To"] = mail.recipient
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = mail.message_id or make_msgid(domain="mss.local")
        message.set_content(mail.body)
        return message

    def _client(self) -> aiosmtplib.SMTP:
        s = self._settings
        return aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            use_tls=s.smtp_use_tls,
            start_tls=s.smtp_starttls,
            timeout=s.smtp_timeout_s,
        )

    async def send(self, mail: Mail) -> SendOutcome:
        """Send `mail`, up to `smtp_attempts` times with exponential back-off."""
        [outcome] = await self.send_many([mail])
        return outcome

    async def send_many(self, mails: Sequence[Mail]) -> list[SendOutcome]:
        """Send `mails` in order over one SMTP session (a batch costs one connect, not one
        per mail); a failure drops the session, and the mail is retried on a new one."""
        session = _Session(self._client)
        try:
            return [await self._send_retried(session, mail) for mail in mails]
        finally:
            await session.close()

    async def _send_retried(self, session: _Session, mail: Mail) -> SendOutcome:
        message = self.message(mail)
        attempts = 0
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(RETRYABLE),
                stop=stop_after_attempt(self._settings.smtp_attempts),
                wait=wait_exponential(multiplier=self._settings.smtp_backoff_s, max=30.0),
                reraise=True,
            ):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    if attempts > 1:
                        log.info("retrying %s mail (attempt %d)", mail.template, attempts)
                    await session.send(message)
        except RETRYABLE as exc:  # reraise=True: the last attempt's own error
            log.warning(
                "%s mail not sent after %d attempts: %s",
                mail.template,
                attempts,
                type(exc).__name__,
            )
            return SendOutcome(attempts=attempts, error=f"{type(exc).__name__}: {exc}")
        return SendOutcome(attempts=attempts)


class _Session:
    """One SMTP connection, opened on the first send and again after a failed one."""

    def __init__(self, client: Callable[[], aiosmtplib.SMTP]) -> None:
        self._client = client
        self._smtp: aiosmtplib.SMTP | None = None

    async def send(self, message: EmailMessage) -> None:
        if self._smtp is None:
            smtp = self._client()
            await smtp.connect()  # with STARTTLS and login when configured
            self._smtp = smtp
        try:
            await self._smtp.send_message(message)
        except BaseException:
            # The connection's state is unknown after a failure: the retry starts afresh.
            await self.close()
            raise

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            await smtp.quit()
        except RETRYABLE:
            smtp.close()  # the server went away first: nothing to say goodbye to
