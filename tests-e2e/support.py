"""Helpers the end-to-end tests share: bearer headers, polling, mailed tokens, logins."""

from __future__ import annotations

import email
import mailbox
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
from tenacity import (
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
)

ROOT = Path(__file__).resolve().parents[1]
LOGIN_DEADLINE_S = 30.0
# A passphrase the strength check accepts; e2e accounts are throwaway.
ACCOUNT_PASSWORD = "violet tractor sings under nine lanterns"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def eventually(deadline_s: float, interval_s: float = 0.1) -> Retrying:
    """`for attempt in eventually(5): with attempt: assert ...` — retried until the deadline."""
    return Retrying(
        stop=stop_after_delay(deadline_s),
        wait=wait_fixed(interval_s),
        retry=retry_if_exception_type(AssertionError),
        reraise=True,
    )


def mail_dir() -> Path:
    run_dir = Path(os.environ.get("MSS_RUN_DIR", str(ROOT / ".run")))
    return run_dir / "mail"


def mailed_tokens(recipient: str) -> list[str]:
    """Every `token=` mailed to `recipient` so far (local SMTP sink's Maildir), oldest first."""
    found: list[tuple[float, str]] = []
    for message in mailbox.Maildir(mail_dir(), create=False):
        if recipient in (message.get("To") or ""):
            parsed = email.message_from_bytes(message.as_bytes())
            body = parsed.get_payload(decode=True) or b""
            if isinstance(body, bytes):
                tokens = re.findall(r"token=([^\s&]+)", body.decode())
                found.extend((message.get_date(), unquote(token)) for token in tokens)
    return [token for _, token in sorted(found, key=lambda item: item[0])]


def mailed_token(recipient: str, *, not_in: frozenset[str] = frozenset()) -> str:
    """The newest `token=` mailed to `recipient` that is not in `not_in` (waits up to 15 s)."""
    for attempt in eventually(15, 0.2):
        with attempt:
            fresh = [t for t in mailed_tokens(recipient) if t not in not_in]
            assert fresh, f"no new mail for {recipient} yet"
    return fresh[-1]


def login(client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    """POST /api/auth/login, waiting out the gateway's per-IP login limit (429)."""
    retrying = Retrying(
        stop=stop_after_delay(LOGIN_DEADLINE_S),
        wait=wait_exponential(multiplier=0.25, max=2.0),
        retry=retry_if_result(_rate_limited),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    response: httpx.Response = retrying(client.post, "/api/auth/login", json=body)
    return response


def _rate_limited(response: httpx.Response) -> bool:
    return response.status_code == 429


ACCOUNT_PASSWORD = "violet tractor sings under nine lanterns"


@dataclass
class Account:
    """A user created through the API, who accepted the invitation and logged in."""

    id: str
    email: str
    password: str
    org_id: str
    role: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)
