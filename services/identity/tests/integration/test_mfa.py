"""TOTP enrolment and login, single-use codes, backup codes, attempt throttling."""

from __future__ import annotations

import time

import httpx
import pyotp
import pytest

from mss_testing.plugin import AccountFactory

pytestmark = pytest.mark.integration

PASSWORD = "another long and unusual passphrase 7"


@pytest.fixture
async def email(new_account: AccountFactory) -> str:
    return (await new_account(PASSWORD)).email


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _login(client: httpx.AsyncClient, email: str) -> dict[str, object]:
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()["data"]
    return data


def _code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


async def _enrol(client: httpx.AsyncClient, email: str) -> tuple[str, list[str], str]:
    token = str((await _login(client, email))["accessToken"])
    setup = await client.post("/api/auth/mfa/setup", headers=_bearer(token))
    assert setup.status_code == 200
    secret = setup.json()["data"]["secret"]
    assert len(secret) >= 32  # ≥ 160 bits in base32
    assert setup.json()["data"]["otpauthUri"].startswith("otpauth://totp/")
    enabled = await client.post(
        "/api/auth/mfa/enable", json={"code": _code(secret)}, headers=_bearer(token)
    )
    assert enabled.status_code == 200, enabled.text
    return secret, enabled.json()["data"]["backupCodes"], token


async def test_enrolled_user_logs_in_with_a_code_that_then_cannot_be_reused(
    client: httpx.AsyncClient, email: str
) -> None:
    secret, backup, _ = await _enrol(client, email)
    assert len(backup) == 10
    assert len(set(backup)) == 10

    challenge = await _login(client, email)
    assert challenge["mfaRequired"] is True
    assert "accessToken" not in challenge
    assert challenge["methods"] == ["totp", "backup_code"]
    # The code used to enable MFA was spent already: only a later step is accepted.
    spent = await client.post(
        "/api/auth/mfa/complete", json={"mfaToken": challenge["mfaToken"], "code": _code(secret)}
    )
    assert spent.status_code == 401
    assert spent.json()["code"] == "INVALID_MFA_CODE"
    fresh = _code(secret, steps_ahead=1)
    done = await client.post(
        "/api/auth/mfa/complete", json={"mfaToken": challenge["mfaToken"], "code": fresh}
    )
    assert done.status_code == 200, done.text
    access = done.json()["data"]["accessToken"]
    assert (await client.get("/api/auth/me", headers=_bearer(access))).status_code == 200

    again = await _login(client, email)
    replay = await client.post(
        "/api/auth/mfa/complete", json={"mfaToken": again["mfaToken"], "code": fresh}
    )
    assert replay.status_code == 401
    # The challenge token of a completed login is single-use.
    reuse = await client.post(
        "/api/auth/mfa/complete",
        json={"mfaToken": challenge["mfaToken"], "code": _code(secret, steps_ahead=1)},
    )
    assert reuse.status_code == 401


async def test_a_backup_code_works_exactly_once(client: httpx.AsyncClient, email: str) -> None:
    _, backup, _ = await _enrol(client, email)
    first = await _login(client, email)
    ok = await client.post(
        "/api/auth/mfa/complete", json={"mfaToken": first["mfaToken"], "code": backup[0]}
    )
    assert ok.status_code == 200
    second = await _login(client, email)
    refused = await client.post(
        "/api/auth/mfa/complete", json={"mfaToken": second["mfaToken"], "code": backup[0]}
    )
    assert refused.status_code == 401
    assert refused.json()["code"] == "INVALID_MFA_CODE"


async def test_wrong_codes_are_throttled(client: httpx.AsyncClient, email: str) -> None:
    await _enrol(client, email)
    challenge = await _login(client, email)
    statuses = []
    for _ in range(8):
        wrong = await client.post(
            "/api/auth/mfa/complete", json={"mfaToken": challenge["mfaToken"], "code": "000000"}
        )
        statuses.append(wrong.status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[7] == 429
    assert wrong.json()["code"] == "RATE_LIMITED"
    assert wrong.headers["retry-after"]


async def test_enabling_mfa_ends_the_users_other_sessions(
    client: httpx.AsyncClient, email: str
) -> None:
    other = str((await _login(client, email))["accessToken"])
    _, _, current = await _enrol(client, email)
    assert (await client.get("/api/auth/me", headers=_bearer(other))).status_code == 401
    assert (await client.get("/api/auth/me", headers=_bearer(current))).status_code == 200


async def test_disabling_needs_a_valid_code(client: httpx.AsyncClient, email: str) -> None:
    secret, _, token = await _enrol(client, email)
    wrong = await client.post(
        "/api/auth/mfa/disable", json={"code": "123456"}, headers=_bearer(token)
    )
    assert wrong.status_code == 401
    right = await client.post(
        "/api/auth/mfa/disable", json={"code": _code(secret, 1)}, headers=_bearer(token)
    )
    assert right.status_code == 204
    assert "accessToken" in await _login(client, email)


async def test_disabling_mfa_ends_the_users_other_sessions(
    client: httpx.AsyncClient, email: str
) -> None:
    secret, backup_codes, current = await _enrol(client, email)
    challenge = await _login(client, email)
    assert challenge["mfaRequired"] is True
    completed = await client.post(
        "/api/auth/mfa/complete",
        json={"mfaToken": challenge["mfaToken"], "code": backup_codes[0]},
    )
    assert completed.status_code == 200, completed.text
    other = completed.json()["data"]["accessToken"]
    assert (await client.get("/api/auth/me", headers=_bearer(other))).status_code == 200

    disabled = await client.post(
        "/api/auth/mfa/disable", json={"code": _code(secret, 1)}, headers=_bearer(current)
    )
    assert disabled.status_code == 204, disabled.text
    assert (await client.get("/api/auth/me", headers=_bearer(other))).status_code == 401
    assert (await client.get("/api/auth/me", headers=_bearer(current))).status_code == 200


async def test_regenerating_backup_codes_replaces_the_set_and_ends_other_sessions(
    client: httpx.AsyncClient, email: str
) -> None:
    secret, old_codes, current = await _enrol(client, email)
    challenge = await _login(client, email)
    other = await client.post(
        "/api/auth/mfa/complete", json={"mfaToken": challenge["mfaToken"], "code": old_codes[0]}
    )
    assert other.status_code == 200, other.text
    other_token = other.json()["data"]["accessToken"]

    fresh = await client.post(
        "/api/auth/mfa/backup-codes", json={"code": _code(secret, 1)}, headers=_bearer(current)
    )
    assert fresh.status_code == 200, fresh.text
    new_codes = fresh.json()["data"]["backupCodes"]
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)
    assert (await client.get("/api/auth/me", headers=_bearer(other_token))).status_code == 401

    again = await _login(client, email)
    old = await client.post(
        "/api/auth/mfa/complete", json={"mfaToken": again["mfaToken"], "code": old_codes[1]}
    )
    assert old.status_code == 401, "the old set died with the regeneration"
