"""Revocation is honoured by every service at once, whatever the gateway has cached."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

PROTECTED = ["/api/auth/me", "/api/organizations", "/api/audit/logs"]


def _login(gateway: httpx.Client, credentials: dict[str, str]) -> dict[str, Any]:
    response = gateway.post("/api/auth/login", json=credentials)
    if response.status_code == 429:
        pytest.skip("login rate limit reached by earlier tests in this run")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _statuses(gateway: httpx.Client, token: str) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {token}"}
    return {path: gateway.get(path, headers=headers).status_code for path in PROTECTED}


def test_logout_makes_the_token_fail_in_identity_organization_and_audit(
    gateway: httpx.Client, credentials: dict[str, str]
) -> None:
    token = _login(gateway, credentials)["accessToken"]
    # Warm the gateway's introspection cache so the services' own check is what refuses.
    assert set(_statuses(gateway, token).values()) == {200}
    logout = gateway.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert logout.status_code == 204
    after = {
        path: gateway.get(path, headers={"Authorization": f"Bearer {token}"}) for path in PROTECTED
    }
    for path, response in after.items():
        assert response.status_code == 401, path
        assert response.json()["code"] == "SESSION_REVOKED", path


def test_reusing_a_rotated_refresh_token_revokes_the_session_everywhere(
    gateway: httpx.Client, credentials: dict[str, str]
) -> None:
    first = _login(gateway, credentials)
    rotated = gateway.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert rotated.status_code == 200
    newest = rotated.json()["data"]["accessToken"]
    assert set(_statuses(gateway, newest).values()) == {200}
    reuse = gateway.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert reuse.status_code == 401
    assert reuse.json()["code"] == "SESSION_REVOKED"
    assert set(_statuses(gateway, newest).values()) == {401}
