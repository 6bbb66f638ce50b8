"""Ending a session is honoured at once by identity, organization and audit (issue 3,
points 2 and 3): refresh-token rotation and reuse detection, logout, password change
(the other sessions), deactivation by a super admin, and suspension of the organization.

Every check uses a customer `admin`: it may read the audit log of its own organization
(200 before), and it may or may not read its own organization (not 401 before either
way). After the revocation all three answer 401.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import (
    Account,
    assert_data,
    assert_error,
    bearer,
    eventually,
    login,
    public_post,
    source_client,
)

REFRESH = "/api/auth/refresh"
NEW_PASSWORD = "amber compass drifts over seven glaciers"
SUSPENSION_BOUND_S = 1.0


@pytest.fixture(scope="module")
def org(create_organization: Any) -> dict[str, Any]:
    organization: dict[str, Any] = create_organization("e2e-revocation")
    return organization


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """Logins and refreshes from 127.0.3.5: a per-IP budget of this file's own."""
    with source_client("127.0.3.5") as http:
        yield http


def protected(org_id: str) -> list[str]:
    """One route of identity, of audit and of organization."""
    return ["/api/auth/me", "/api/audit/logs", f"/api/organizations/{org_id}"]


def answers(client: httpx.Client, token: str, org_id: str) -> dict[str, httpx.Response]:
    return {path: client.get(path, headers=bearer(token)) for path in protected(org_id)}


def assert_live(client: httpx.Client, token: str, org_id: str) -> None:
    """Before: identity and audit serve the token; organization does not refuse it as 401."""
    found = answers(client, token, org_id)
    me, audit, organization = (found[path] for path in protected(org_id))
    assert me.status_code == 200, me.text
    assert audit.status_code == 200, audit.text
    assert organization.status_code != 401, organization.text
    assert organization.status_code in (200, 403), organization.text


def assert_revoked(client: httpx.Client, token: str, org_id: str) -> None:
    """After: every service answers 401 SESSION_REVOKED."""
    for path, response in answers(client, token, org_id).items():
        assert_error(response, 401, "SESSION_REVOKED", path)


def second_session(client: httpx.Client, account: Account) -> dict[str, Any]:
    data: dict[str, Any] = assert_data(
        login(client, {"email": account.email, "password": account.password})
    )
    return data


# --- 2. refresh rotation -------------------------------------------------------------------


def test_reuse_of_a_rotated_refresh_token_revokes_the_newest_pair_of_the_session(
    client: httpx.Client, make_account: Any, org: dict[str, Any]
) -> None:
    account: Account = make_account("admin", org["id"])
    first = second_session(client, account)

    rotated = assert_data(public_post(client, REFRESH, {"refreshToken": first["refreshToken"]}))
    assert rotated["tokenType"] == "Bearer"
    assert rotated["refreshToken"] != first["refreshToken"]
    assert rotated["accessToken"] != first["accessToken"]
    assert rotated["user"]["id"] == account.id
    newest = assert_data(public_post(client, REFRESH, {"refreshToken": rotated["refreshToken"]}))
    assert_live(client, newest["accessToken"], org["id"])

    reused = public_post(client, REFRESH, {"refreshToken": first["refreshToken"]})
    assert_error(reused, 401, "SESSION_REVOKED", REFRESH)

    # The whole session is dead: its newest access token in every service, and its newest
    # refresh token.
    assert_revoked(client, newest["accessToken"], org["id"])
    dead = public_post(client, REFRESH, {"refreshToken": newest["refreshToken"]})
    # Only the rotated token's reuse is the theft signal; a token of an ended session is
    # simply invalid.
    assert_error(dead, 401, "INVALID_TOKEN", REFRESH)
    # Another session of the same user is untouched.
    assert_live(client, account.access_token, org["id"])


# --- 3. revocation in identity, audit and organization at once ------------------------------


def test_logout_revokes_the_token_in_every_service_at_once(
    client: httpx.Client, make_account: Any, org: dict[str, Any]
) -> None:
    account: Account = make_account("admin", org["id"])
    assert_live(client, account.access_token, org["id"])

    logout = client.post("/api/auth/logout", headers=account.headers)

    assert logout.status_code == 204, logout.text
    assert_revoked(client, account.access_token, org["id"])
    dead = public_post(client, REFRESH, {"refreshToken": account.refresh_token})
    assert_error(dead, 401, "INVALID_TOKEN", REFRESH)


def test_password_change_revokes_the_other_sessions_in_every_service_at_once(
    client: httpx.Client, make_account: Any, org: dict[str, Any]
) -> None:
    account: Account = make_account("admin", org["id"])
    other = account.access_token
    current = second_session(client, account)["accessToken"]
    assert_live(client, other, org["id"])
    assert_live(client, current, org["id"])

    changed = client.post(
        "/api/auth/password/change",
        json={"currentPassword": account.password, "newPassword": NEW_PASSWORD},
        headers=bearer(current),
    )

    assert changed.status_code == 204, changed.text
    assert_revoked(client, other, org["id"])
    # The session that changed the password goes on.
    assert_live(client, current, org["id"])
    old = login(client, {"email": account.email, "password": account.password})
    assert_error(old, 401, "INVALID_CREDENTIALS", "/api/auth/login")
    assert_data(login(client, {"email": account.email, "password": NEW_PASSWORD}))


def test_deactivation_by_a_super_admin_revokes_the_token_in_every_service_at_once(
    api: httpx.Client, client: httpx.Client, make_account: Any, org: dict[str, Any]
) -> None:
    account: Account = make_account("admin", org["id"])
    assert_live(client, account.access_token, org["id"])

    deleted = api.delete(f"/api/users/{account.id}")

    assert deleted.status_code in (200, 204), deleted.text
    assert_revoked(client, account.access_token, org["id"])
    assert assert_data(api.get(f"/api/users/{account.id}"))["status"] == "inactive"
    refused = login(client, {"email": account.email, "password": account.password})
    assert_error(refused, 401, "INVALID_CREDENTIALS", "/api/auth/login")


def test_suspending_the_organization_revokes_the_token_in_every_service_within_1s(
    api: httpx.Client, client: httpx.Client, make_account: Any, create_organization: Any
) -> None:
    own = create_organization("e2e-revocation-suspend")
    account: Account = make_account("admin", own["id"])
    assert_live(client, account.access_token, own["id"])

    suspended = api.post(f"/api/organizations/{own['id']}/suspend", json={"reason": "e2e"})

    assert assert_data(suspended)["status"] == "suspended"
    for attempt in eventually(SUSPENSION_BOUND_S, 0.05):
        with attempt:
            statuses = {
                path: response.status_code
                for path, response in answers(client, account.access_token, own["id"]).items()
            }
            assert set(statuses.values()) == {401}, statuses
    assert_revoked(client, account.access_token, own["id"])
