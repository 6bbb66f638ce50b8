"""Changing one's password: the policy, the current password, and the other sessions."""

from __future__ import annotations

import httpx
import pytest

from mss_testing.plugin import AccountFactory

pytestmark = pytest.mark.integration

OLD = "the first long passphrase of 2026"
NEW = "violet tractor sings under nine lanterns"


@pytest.fixture
async def email(new_account: AccountFactory) -> str:
    return (await new_account(OLD)).email


async def _token(client: httpx.AsyncClient, email: str, password: str) -> str:
    response = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["accessToken"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("weak", ["short1!", "password123456", "aaaaaaaaaaaaaaaa"])
async def test_weak_new_passwords_are_refused_with_422(
    client: httpx.AsyncClient, email: str, weak: str
) -> None:
    token = await _token(client, email, OLD)
    response = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": OLD, "newPassword": weak},
        headers=_bearer(token),
    )
    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "newPassword" in response.json()["details"]


async def test_a_wrong_current_password_is_refused(client: httpx.AsyncClient, email: str) -> None:
    token = await _token(client, email, OLD)
    response = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": "not the password at all", "newPassword": NEW},
        headers=_bearer(token),
    )
    assert response.status_code == 401


async def test_changing_the_password_ends_the_other_sessions_only(
    client: httpx.AsyncClient, email: str
) -> None:
    other = await _token(client, email, OLD)
    current = await _token(client, email, OLD)
    changed = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": OLD, "newPassword": NEW},
        headers=_bearer(current),
    )
    assert changed.status_code == 204
    assert (await client.get("/api/auth/me", headers=_bearer(other))).status_code == 401
    assert (await client.get("/api/auth/me", headers=_bearer(current))).status_code == 200
    old_login = await client.post("/api/auth/login", json={"email": email, "password": OLD})
    assert old_login.status_code == 401
    assert await _token(client, email, NEW)
