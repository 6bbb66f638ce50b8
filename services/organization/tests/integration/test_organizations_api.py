"""The organization API against the real database, bus and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from mss_auth.tokens import KeyLoader
from mss_contracts.permissions import OrganizationType, Role
from mss_organization.main import build_runtime, create_app
from mss_settings import PlatformSettings
from mss_testing.plugin import TokenFactory, running

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(
    platform_settings: PlatformSettings, key_loader: KeyLoader
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(lambda: build_runtime(key_loader))) as c:
        yield c


async def _auth(mint_token: TokenFactory, **kwargs: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {await mint_token(**kwargs)}"}


async def test_super_admin_creates_reads_and_lists_an_organization(
    client: httpx.AsyncClient, mint_token: TokenFactory
) -> None:
    headers = await _auth(mint_token)
    name = f"Acme {uuid.uuid4().hex[:6]}"
    created = await client.post("/api/organizations", json={"name": name}, headers=headers)
    assert created.status_code == 201, created.text
    org = created.json()["data"]
    assert org["name"] == name
    assert org["type"] == "customer"
    assert org["status"] == "active"

    fetched = await client.get(f"/api/organizations/{org['id']}", headers=headers)
    assert fetched.status_code == 200
    assert fetched.json()["data"]["id"] == org["id"]

    listed = await client.get("/api/organizations", params={"q": name}, headers=headers)
    body = listed.json()
    assert [o["id"] for o in body["data"]] == [org["id"]]
    assert body["meta"] == {"total": 1, "page": 1, "limit": 20, "totalPages": 1}


async def test_suspend_then_reactivate_and_illegal_transition(
    client: httpx.AsyncClient, mint_token: TokenFactory
) -> None:
    headers = await _auth(mint_token)
    org = (await client.post("/api/organizations", json={"name": "Cycle"}, headers=headers)).json()[
        "data"
    ]
    suspended = await client.post(
        f"/api/organizations/{org['id']}/suspend", json={"reason": "unpaid"}, headers=headers
    )
    assert suspended.status_code == 200
    assert suspended.json()["data"]["status"] == "suspended"
    again = await client.post(f"/api/organizations/{org['id']}/suspend", headers=headers)
    assert again.status_code == 409
    assert again.json()["code"] == "INVALID_STATE_TRANSITION"
    back = await client.post(f"/api/organizations/{org['id']}/reactivate", headers=headers)
    assert back.json()["data"]["status"] == "active"
    assert back.json()["data"]["version"] == 3


async def test_customer_admin_lacks_organizations_create(
    client: httpx.AsyncClient, mint_token: TokenFactory
) -> None:
    headers = await _auth(mint_token, role=Role.ADMIN, org_type=OrganizationType.CUSTOMER)
    response = await client.post("/api/organizations", json={"name": "Nope"}, headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"


async def test_unknown_and_malformed_ids(
    client: httpx.AsyncClient, mint_token: TokenFactory
) -> None:
    headers = await _auth(mint_token)
    unknown = await client.get(f"/api/organizations/{uuid.uuid4()}", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "NOT_FOUND"
    malformed = await client.get("/api/organizations/not-a-uuid", headers=headers)
    assert malformed.status_code == 422
    assert "id" in malformed.json()["details"]


async def test_validation_errors_name_each_field(
    client: httpx.AsyncClient, mint_token: TokenFactory
) -> None:
    headers = await _auth(mint_token)
    response = await client.post(
        "/api/organizations",
        json={"name": "", "domain": "not a domain", "extra": 1},
        headers=headers,
    )
    assert response.status_code == 422
    details = response.json()["details"]
    assert {"name", "domain", "extra"} <= details.keys()
