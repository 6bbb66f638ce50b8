"""Changing one's password: the policy, the current password, and the other sessions."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.application.users import ensure_super_admin
from mss_identity.main import build_runtime, create_app
from mss_settings import PlatformSettings
from mss_testing.plugin import running

pytestmark = pytest.mark.integration

OLD = "the first long passphrase of 2026"
NEW = "violet tractor sings under nine lanterns"


@pytest.fixture
async def client(
    platform_settings: PlatformSettings, signing_keys_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app()) as c:
        yield c


@pytest.fixture
async def email(platform_settings: PlatformSettings) -> str:
    runtime = build_runtime()
    hasher = PasswordHasher(memory_kib=19 * 1024, time_cost=2, parallelism=1, workers=1)
    address = f"pw-{uuid.uuid4().hex[:8]}@example.com"
    await ensure_super_admin(
        provider_org_id=uuid.uuid4(),
        provider_name="Provider",
        email=address,
        password=OLD,
        uow_factory=runtime.uow,
        hasher=hasher,
    )
    hasher.close()
    await runtime.close()
    return address


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
