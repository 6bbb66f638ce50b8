"""Identity, black box through the gateway: account lockout, the password policy, the
forgotten-password flow, and mailed tokens kept out of the audit store (issue 3, points
1, 5, 6 and 9).

Failing logins come from their own loopback source address, so the per-IP login budget
of 127.0.0.1 (shared with the rest of the run) is untouched.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from support import (
    ACCOUNT_PASSWORD,
    Account,
    assert_data,
    assert_error,
    bearer,
    eventually,
    invite_user,
    login,
    mailed_token,
    mailed_tokens,
    public_post,
    source_client,
)

LOGIN = "/api/auth/login"
RESET = "/api/auth/password/reset"
FORGOT = "/api/auth/password/forgot"
CHANGE = "/api/auth/password/change"
WRONG_PASSWORD = "orange kettle hums beside twelve ferries"
NEW_PASSWORD = "quiet harbour lamps glow past eleven"
LOCK_THRESHOLD = 5
LONGEST_LOCK = timedelta(minutes=15)
WEAK_PASSWORDS = ["short1!", "password123456", "aaaaaaaaaaaaaaaa"]
AUDIT_DEADLINE_S = 15.0


@pytest.fixture(scope="module")
def org(create_organization: Any) -> dict[str, Any]:
    organization: dict[str, Any] = create_organization("e2e-lockout")
    return organization


@pytest.fixture(scope="module")
def outsider() -> Iterator[httpx.Client]:
    """Logins from 127.0.3.1: a per-IP login budget of this file's own."""
    with source_client("127.0.3.1") as http:
        yield http


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- 1. lockout -----------------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_account_until_a_super_admin_unlocks_it(
    api: httpx.Client,
    gateway: httpx.Client,
    outsider: httpx.Client,
    make_account: Any,
    org: dict[str, Any],
) -> None:
    account: Account = make_account("basic_user", org["id"])
    wrong = {"email": account.email, "password": WRONG_PASSWORD}
    right = {"email": account.email, "password": account.password}

    for _ in range(LOCK_THRESHOLD):
        assert_error(login(outsider, wrong), 401, "INVALID_CREDENTIALS", LOGIN)

    before = datetime.now(UTC)
    locked = assert_error(login(outsider, right), 423, "ACCOUNT_LOCKED", LOGIN)
    locked_until = _parse_time(locked["details"]["lockedUntil"])
    assert before < locked_until <= before + LONGEST_LOCK, locked
    # The lock belongs to the account, not to the address the guesses came from, and no
    # password (right or wrong) is evaluated while it holds.
    assert_error(login(gateway, right), 423, "ACCOUNT_LOCKED", LOGIN)
    assert_error(login(outsider, wrong), 423, "ACCOUNT_LOCKED", LOGIN)

    unlocked = assert_data(api.post(f"/api/users/{account.id}/unlock"))
    assert unlocked["id"] == account.id
    assert unlocked["status"] == "active"

    data = assert_data(login(outsider, right))
    assert data["tokenType"] == "Bearer"
    assert data["user"]["id"] == account.id
    me = gateway.get("/api/auth/me", headers=bearer(data["accessToken"]))
    assert assert_data(me)["user"]["id"] == account.id


# --- 5. the password policy ----------------------------------------------------------------


@pytest.fixture(scope="module")
def changer(make_account: Any, org: dict[str, Any]) -> Account:
    account: Account = make_account("basic_user", org["id"])
    return account


@pytest.mark.parametrize("weak", WEAK_PASSWORDS)
def test_a_weak_new_password_is_refused_by_password_change(
    gateway: httpx.Client, changer: Account, weak: str
) -> None:
    response = gateway.post(
        CHANGE,
        json={"currentPassword": changer.password, "newPassword": weak},
        headers=changer.headers,
    )

    body = assert_error(response, 422, "VALIDATION_ERROR", CHANGE)
    assert "newPassword" in body["details"], body
    # Nothing changed: the session is still alive (a change would have kept it anyway,
    # but a refused one must not have revoked anything either).
    assert gateway.get("/api/auth/me", headers=changer.headers).status_code == 200


def test_password_change_with_a_wrong_current_password_is_refused(
    gateway: httpx.Client, changer: Account
) -> None:
    response = gateway.post(
        CHANGE,
        json={"currentPassword": WRONG_PASSWORD, "newPassword": NEW_PASSWORD},
        headers=changer.headers,
    )

    assert_error(response, 401, "INVALID_CREDENTIALS", CHANGE)


def test_weak_passwords_are_refused_when_accepting_an_invitation(
    api: httpx.Client, outsider: httpx.Client, org: dict[str, Any]
) -> None:
    user, address = invite_user(api, org["id"], "report_viewer")
    assert user["status"] == "invited"
    token = mailed_token(address)

    for weak in WEAK_PASSWORDS:
        refused = public_post(outsider, RESET, {"token": token, "newPassword": weak})
        body = assert_error(refused, 422, "VALIDATION_ERROR", RESET)
        assert "newPassword" in body["details"], (weak, body)

    # A refused attempt does not use the token up: a strong password is then accepted.
    accepted = public_post(outsider, RESET, {"token": token, "newPassword": ACCOUNT_PASSWORD})
    assert accepted.status_code == 204, accepted.text
    assert assert_data(api.get(f"/api/users/{user['id']}"))["status"] == "active"
    data = assert_data(login(outsider, {"email": address, "password": ACCOUNT_PASSWORD}))
    assert data["user"]["id"] == user["id"]


# --- 6 and 9. forgotten password; no mailed token in the audit store -----------------------


def test_forgotten_password_reset_works_once_and_no_token_reaches_the_audit_store(
    api: httpx.Client,
    outsider: httpx.Client,
    make_account: Any,
    org: dict[str, Any],
) -> None:
    account: Account = make_account("basic_user", org["id"])
    invitation_tokens = frozenset(mailed_tokens(account.email))
    assert invitation_tokens, "make_account accepted a mailed invitation"
    unknown_address = f"nobody-{uuid.uuid4().hex[:12]}@example.com"

    unknown = public_post(outsider, FORGOT, {"email": unknown_address})
    known = public_post(outsider, FORGOT, {"email": account.email})

    # The same 202 whether or not the address belongs to anyone.
    assert unknown.status_code == 202, unknown.text
    assert known.status_code == 202, known.text
    assert unknown.json()["success"] is True
    assert unknown.json()["data"] is None
    assert unknown.json() == known.json()

    reset_token = mailed_token(account.email, not_in=invitation_tokens)
    assert mailed_tokens(unknown_address) == []

    reset = public_post(outsider, RESET, {"token": reset_token, "newPassword": NEW_PASSWORD})
    assert reset.status_code == 204, reset.text
    again = public_post(outsider, RESET, {"token": reset_token, "newPassword": NEW_PASSWORD + "!"})
    assert_error(again, 400, "BAD_REQUEST", RESET)

    fresh = assert_data(login(outsider, {"email": account.email, "password": NEW_PASSWORD}))
    assert fresh["user"]["id"] == account.id
    old = login(outsider, {"email": account.email, "password": account.password})
    assert_error(old, 401, "INVALID_CREDENTIALS", LOGIN)

    # Point 9: once the invitation and the reset request are audited, neither token is
    # anywhere in the events of the user nor in the audit log entries about them.
    secrets = [*invitation_tokens, reset_token]
    wanted = {"user.invited", "auth.password.reset_requested"}
    events: httpx.Response | None = None
    logs: httpx.Response | None = None
    for attempt in eventually(AUDIT_DEADLINE_S, 0.25):
        with attempt:
            events = api.get("/api/audit/events", params={"aggregateId": account.id})
            logs = api.get("/api/audit/logs", params={"resourceId": account.id, "limit": 100})
            event_types = {event["type"] for event in assert_data(events)}
            actions = {entry["action"] for entry in assert_data(logs)}
            assert wanted <= event_types, event_types
            assert wanted <= actions, actions
    assert events is not None
    assert logs is not None
    for secret in secrets:
        assert secret not in events.text
        assert secret not in logs.text
    for entry in assert_data(logs):
        assert entry["resourceId"] == account.id
