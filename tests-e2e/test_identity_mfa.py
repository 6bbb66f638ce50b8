"""TOTP second factor, black box through the gateway (issue 3, point 4): enrolment, login
with a challenge, single use of codes (TOTP and backup), and throttling of wrong codes.

The server accepts a TOTP code within ±1 step of 30 s, each step at most once and only
steps later than the last one used. The tests therefore use the current step to enable
and the next step (`at(now + 30)`) to log in, and backup codes afterwards: no test waits
for the clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from support import (
    Account,
    assert_data,
    assert_error,
    bearer,
    login,
    source_client,
)

LOGIN = "/api/auth/login"
COMPLETE = "/api/auth/mfa/complete"
ENABLE = "/api/auth/mfa/enable"
STEP_S = 30
BACKUP_CODES = 10
# The server allows 5 wrong codes per 5 minutes per user; the 6th attempt is refused.
THROTTLED_BY = 8


@pytest.fixture(scope="module")
def org(create_organization: Any) -> dict[str, Any]:
    organization: dict[str, Any] = create_organization("e2e-mfa")
    return organization


@pytest.fixture
def client(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """Logins from another loopback address per test: a per-IP login budget of its own."""
    with source_client(request.param) as http:
        yield http


def wrong_code(totp: pyotp.TOTP) -> str:
    """A 6-digit code that is valid in none of the steps the server accepts now."""
    now = time.time()
    valid = {totp.at(now + offset) for offset in (-2 * STEP_S, -STEP_S, 0, STEP_S, 2 * STEP_S)}
    return next(code for code in (f"{n:06d}" for n in range(100)) if code not in valid)


def enrol(gateway: httpx.Client, account: Account) -> tuple[pyotp.TOTP, list[str]]:
    """MFA setup + enable with the current step's code; returns the TOTP and backup codes."""
    setup = assert_data(gateway.post("/api/auth/mfa/setup", headers=account.headers))
    assert set(setup) == {"secret", "otpauthUri"}, setup
    uri = urlsplit(setup["otpauthUri"])
    assert uri.scheme == "otpauth"
    assert uri.netloc == "totp"
    assert parse_qs(uri.query)["secret"] == [setup["secret"]]
    totp = pyotp.TOTP(setup["secret"], interval=STEP_S)

    refused = gateway.post(ENABLE, json={"code": wrong_code(totp)}, headers=account.headers)
    assert_error(refused, 401, "INVALID_MFA_CODE", ENABLE)

    enabled = gateway.post(ENABLE, json={"code": totp.now()}, headers=account.headers)
    codes: list[str] = assert_data(enabled)["backupCodes"]
    assert len(codes) == BACKUP_CODES
    assert len(set(codes)) == BACKUP_CODES
    me = assert_data(gateway.get("/api/auth/me", headers=account.headers))
    assert me["user"]["mfaEnabled"] is True
    return totp, codes


def challenge(client: httpx.Client, account: Account) -> str:
    """Log in with the right password; the answer is the MFA challenge, not tokens."""
    data = assert_data(login(client, {"email": account.email, "password": account.password}))
    assert data["mfaRequired"] is True, data
    assert data["methods"] == ["totp", "backup_code"], data
    assert "accessToken" not in data
    assert "refreshToken" not in data
    token: str = data["mfaToken"]
    assert token
    return token


def complete(client: httpx.Client, mfa_token: str, code: str) -> httpx.Response:
    return client.post(COMPLETE, json={"mfaToken": mfa_token, "code": code})


def assert_tokens(gateway: httpx.Client, response: httpx.Response, account: Account) -> None:
    data = assert_data(response)
    assert data["tokenType"] == "Bearer"
    assert data["refreshToken"]
    assert data["user"]["id"] == account.id
    me = assert_data(gateway.get("/api/auth/me", headers=bearer(data["accessToken"])))
    assert me["user"]["id"] == account.id


@pytest.mark.parametrize("client", ["127.0.3.2"], indirect=True)
def test_totp_login_codes_are_single_use_and_backup_codes_work_once(
    gateway: httpx.Client, client: httpx.Client, make_account: Any, org: dict[str, Any]
) -> None:
    account: Account = make_account("basic_user", org["id"])
    totp, backup_codes = enrol(gateway, account)

    # A valid TOTP code completes the login (the next step: the current one was used to
    # enable, and a step is accepted only once).
    code = totp.at(time.time() + STEP_S)
    first = challenge(client, account)
    assert_tokens(gateway, complete(client, first, code), account)
    # The challenge itself is single use too.
    used = complete(client, first, totp.at(time.time() + STEP_S))
    assert_error(used, 401, "INVALID_TOKEN", COMPLETE)

    # The same code on a fresh login (new mfaToken) is refused.
    second = challenge(client, account)
    assert_error(complete(client, second, code), 401, "INVALID_MFA_CODE", COMPLETE)

    # A backup code works once...
    assert_tokens(gateway, complete(client, second, backup_codes[0]), account)
    # ...and is refused the second time.
    third = challenge(client, account)
    assert_error(complete(client, third, backup_codes[0]), 401, "INVALID_MFA_CODE", COMPLETE)
    # Another backup code still works on the same challenge.
    assert_tokens(gateway, complete(client, third, backup_codes[1]), account)


@pytest.mark.parametrize("client", ["127.0.3.3"], indirect=True)
def test_wrong_codes_in_a_row_are_throttled_with_429(
    gateway: httpx.Client, client: httpx.Client, make_account: Any, org: dict[str, Any]
) -> None:
    account: Account = make_account("basic_user", org["id"])
    totp, backup_codes = enrol(gateway, account)
    mfa_token = challenge(client, account)

    throttled: httpx.Response | None = None
    wrong_answers = 0
    for _ in range(THROTTLED_BY):
        response = complete(client, mfa_token, wrong_code(totp))
        if response.status_code == 429:
            throttled = response
            break
        assert_error(response, 401, "INVALID_MFA_CODE", COMPLETE)
        wrong_answers += 1

    assert throttled is not None, f"{THROTTLED_BY} wrong MFA codes in a row were never refused"
    assert wrong_answers >= 1
    assert_error(throttled, 429, "RATE_LIMITED", COMPLETE)
    assert int(throttled.headers["retry-after"]) >= 1
    # While throttled, even a valid code does not complete the login.
    assert_error(complete(client, mfa_token, backup_codes[0]), 429, "RATE_LIMITED", COMPLETE)
