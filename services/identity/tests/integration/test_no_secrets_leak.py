"""Secrets never leave identity through its logs, its events or its error bodies.

One pass through everything that handles a secret — login, a wrong password, refresh,
MFA setup and enable, an API key created and exchanged, a weak new password — with every
log record captured; then the secrets are searched for in the logs, in the outbox, and
in the error bodies the pass received.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import pyotp
import pytest

from mss_contracts.permissions import Role
from mss_testing.plugin import AccountFactory, TokenFactory

pytestmark = [pytest.mark.integration, pytest.mark.keep_outbox]

PASSWORD = "a long and unusual passphrase 42"
WEAK = "password123456"


async def test_no_secret_reaches_a_log_an_event_or_an_error_body(
    client: httpx.AsyncClient,
    new_account: AccountFactory,
    mint_token: TokenFactory,
    new_customer_org: Callable[[], Awaitable[uuid.UUID]],
    admin_db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    account = await new_account(PASSWORD)
    errors: list[str] = []

    wrong = await client.post(
        "/api/auth/login", json={"email": account.email, "password": PASSWORD + "x"}
    )
    errors.append(wrong.text)
    login = (
        await client.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})
    ).json()["data"]
    bearer = {"Authorization": f"Bearer {login['accessToken']}"}
    refreshed = await client.post("/api/auth/refresh", json={"refreshToken": login["refreshToken"]})
    new_refresh = refreshed.json()["data"]["refreshToken"]
    weak = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": PASSWORD, "newPassword": WEAK},
        headers=bearer,
    )
    assert weak.status_code == 422
    errors.append(weak.text)

    setup = (await client.post("/api/auth/mfa/setup", headers=bearer)).json()["data"]
    secret = setup["secret"]
    enabled = await client.post(
        "/api/auth/mfa/enable", json={"code": pyotp.TOTP(secret).now()}, headers=bearer
    )
    backup_codes = enabled.json()["data"]["backupCodes"]

    admin = {"Authorization": f"Bearer {await mint_token(role=Role.SUPER_ADMIN)}"}
    created = await client.post(
        "/api/api-keys",
        json={"organizationId": str(await new_customer_org()), "permissions": ["users:read"]},
        headers=admin,
    )
    api_key = created.json()["data"]["key"]
    exchanged = (await client.post("/api/auth/token", json={"apiKey": api_key})).json()["data"]
    bad_key = await client.post("/api/auth/token", json={"apiKey": api_key + "x"})
    errors.append(bad_key.text)

    secrets = {
        "password": PASSWORD,
        "weak new password": WEAK,
        "access token": login["accessToken"],
        "refresh token": login["refreshToken"],
        "rotated refresh token": new_refresh,
        "totp secret": secret,
        "api key": api_key,
        "api key token": exchanged["accessToken"],
        **{f"backup code {i}": code for i, code in enumerate(backup_codes)},
    }
    logs = "\n".join(record.getMessage() + repr(record.__dict__) for record in caplog.records)
    assert caplog.records, "the pass logged nothing: the check would prove nothing"
    outbox = "\n".join(
        row["payload"] for row in await admin_db.fetch("SELECT payload::text FROM identity.outbox")
    )
    for name, value in secrets.items():
        assert value not in logs, f"{name} in the logs"
        assert value not in outbox, f"{name} in an event"
        for body in errors:
            assert value not in body, f"{name} in an error body"
