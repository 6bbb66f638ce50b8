"""API keys: super admins create them; integrations exchange them for scoped tokens."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from mss_contracts.permissions import OrganizationType, Role
from mss_testing.plugin import TokenFactory

pytestmark = [pytest.mark.integration, pytest.mark.keep_outbox]


@pytest.fixture
async def org_id(new_customer_org: Callable[[], Awaitable[uuid.UUID]]) -> uuid.UUID:
    return await new_customer_org()


@pytest.fixture
async def admin(mint_token: TokenFactory) -> dict[str, str]:
    return _bearer(await mint_token(role=Role.SUPER_ADMIN))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _body(org_id: uuid.UUID, permissions: list[str]) -> dict[str, Any]:
    return {"organizationId": str(org_id), "name": "SIEM feed", "permissions": permissions}


async def _create(
    client: httpx.AsyncClient, headers: dict[str, str], org_id: uuid.UUID, permissions: list[str]
) -> dict[str, Any]:
    response = await client.post("/api/api-keys", json=_body(org_id, permissions), headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def _exchange(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.post("/api/auth/token", json={"apiKey": key})


async def test_a_key_is_exchanged_for_a_token_with_exactly_its_permissions(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    org_id: uuid.UUID,
    admin_db: asyncpg.Connection,
) -> None:
    created = await _create(client, admin, org_id, ["users:read"])
    key = created["key"]
    assert key.startswith(f"mssk_{created['prefix']}_")
    assert created["organizationId"] == str(org_id)
    assert created["permissions"] == ["users:read"]
    assert {"id", "name", "createdAt"} <= created.keys()

    row = await admin_db.fetchrow(
        "SELECT key_hash, key_prefix, permissions, last_used_at FROM identity.api_keys "
        "WHERE id = $1",
        uuid.UUID(created["id"]),
    )
    assert row is not None
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in (row["key_hash"], row["key_prefix"])
    assert row["permissions"] == ["users:read"]
    assert row["last_used_at"] is None

    exchanged = await _exchange(client, key)
    assert exchanged.status_code == 200, exchanged.text
    data = exchanged.json()["data"]
    assert data["tokenType"] == "Bearer"
    assert data["expiresIn"] == 900
    claims = jwt.decode(data["accessToken"], options={"verify_signature": False})
    assert claims["perms"] == ["users:read"]
    assert "role" not in claims
    assert claims["amr"] == ["api_key"]
    assert claims["sub"] == created["id"]
    assert claims["org"] == str(org_id)
    assert claims["orgType"] == "customer"
    used = await admin_db.fetchval(
        "SELECT last_used_at FROM identity.api_keys WHERE id = $1", uuid.UUID(created["id"])
    )
    assert used is not None

    token = _bearer(data["accessToken"])
    listed = await client.get("/api/users", params={"orgId": str(org_id)}, headers=token)
    assert listed.status_code == 200, listed.text
    person = {
        "organizationId": str(org_id),
        "email": f"u-{uuid.uuid4().hex[:8]}@example.com",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "role": "basic_user",
    }
    assert (await client.post("/api/users", json=person, headers=token)).status_code == 403
    escalate = await client.post(
        "/api/api-keys", json=_body(org_id, ["users:create"]), headers=token
    )
    assert escalate.status_code == 403


async def test_the_list_never_shows_the_key_nor_its_hash(
    client: httpx.AsyncClient, admin: dict[str, str], org_id: uuid.UUID
) -> None:
    created = await _create(client, admin, org_id, ["users:read", "alerts:read"])
    response = await client.get("/api/api-keys", params={"orgId": str(org_id)}, headers=admin)
    assert response.status_code == 200, response.text
    keys = response.json()["data"]
    assert [k["id"] for k in keys] == [created["id"]]
    assert keys[0]["permissions"] == ["alerts:read", "users:read"]
    assert keys[0]["prefix"] == created["prefix"]
    assert not {"key", "keyHash", "hash"} & keys[0].keys()
    assert created["key"] not in response.text
    assert hashlib.sha256(created["key"].encode()).hexdigest() not in response.text


async def test_only_a_super_admin_manages_keys(
    client: httpx.AsyncClient, mint_token: TokenFactory, org_id: uuid.UUID
) -> None:
    manager = _bearer(await mint_token(role=Role.ACCOUNT_MANAGER))
    response = await client.post(
        "/api/api-keys", json=_body(org_id, ["users:read"]), headers=manager
    )
    assert response.status_code == 403
    assert (await client.get("/api/api-keys", headers=manager)).status_code == 403
    # Even a token carrying every permission explicitly is not a super admin.
    wildcard = _bearer(
        await mint_token(role=None, permissions=["*:*"], org_type=OrganizationType.CUSTOMER)
    )
    response = await client.post(
        "/api/api-keys", json=_body(org_id, ["users:read"]), headers=wildcard
    )
    assert response.status_code == 403


async def test_a_revoked_key_cannot_be_exchanged_and_its_tokens_die_at_once(
    client: httpx.AsyncClient, admin: dict[str, str], org_id: uuid.UUID
) -> None:
    created = await _create(client, admin, org_id, ["users:read"])
    issued = [await _exchange(client, created["key"]) for _ in range(2)]
    assert [r.status_code for r in issued] == [200, 200]
    tokens = [_bearer(r.json()["data"]["accessToken"]) for r in issued]
    for token in tokens:
        assert (await client.get("/api/users", headers=token)).status_code == 200
    revoked = await client.delete(f"/api/api-keys/{created['id']}", headers=admin)
    assert revoked.status_code == 204
    refused = await _exchange(client, created["key"])
    assert refused.status_code == 401
    assert refused.json()["code"] == "INVALID_CREDENTIALS"
    for token in tokens:
        dead = await client.get("/api/users", headers=token)
        assert dead.status_code == 401
        assert dead.json()["code"] == "SESSION_REVOKED"
    listed = await client.get("/api/api-keys", params={"orgId": str(org_id)}, headers=admin)
    assert listed.json()["data"][0]["revokedAt"] is not None


async def test_unknown_keys_are_refused_alike(client: httpx.AsyncClient) -> None:
    for key in ("mssk_deadbeef_nothing", "not a key"):
        response = await _exchange(client, key)
        assert response.status_code == 401
        assert response.json()["code"] == "INVALID_CREDENTIALS"


async def test_revoking_an_unknown_key_is_not_found(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.delete(f"/api/api-keys/{uuid.uuid4()}", headers=admin)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "permissions", [["*:*"], ["users:read", "*:*"], ["users:fly"], ["nonsense"], []]
)
async def test_wildcard_unknown_or_no_permissions_are_refused(
    client: httpx.AsyncClient, admin: dict[str, str], org_id: uuid.UUID, permissions: list[str]
) -> None:
    response = await client.post("/api/api-keys", json=_body(org_id, permissions), headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_a_key_for_an_unknown_org_is_not_found(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post(
        "/api/api-keys", json=_body(uuid.uuid4(), ["users:read"]), headers=admin
    )
    assert response.status_code == 404
