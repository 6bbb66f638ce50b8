"""The items example against the real database: create, list, tenant scope, event, refusals."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from mss_auth.tokens import KeyLoader
from mss_contracts.permissions import OrganizationType, Role
from mss_settings import PlatformSettings
from mss_testing.plugin import TokenFactory, running

# isort: split
from mss_security.main import build_runtime, create_app

pytestmark = pytest.mark.integration

ITEMS = "/api/alerts/items"


@pytest.fixture
async def client(
    platform_settings: PlatformSettings, key_loader: KeyLoader
) -> AsyncIterator[httpx.AsyncClient]:
    """The app without its relay: events stay in the outbox for the assertions."""
    app = create_app(lambda: build_runtime(key_loader), run_relay=False)
    async with running(app) as c:
        yield c


async def _auth(mint_token: TokenFactory, **kwargs: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {await mint_token(**kwargs)}"}


async def test_an_item_is_created_listed_and_announced(
    client: httpx.AsyncClient, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    org = uuid.uuid4()
    headers = await _auth(mint_token, role=Role.SUPER_ADMIN)
    created = await client.post(
        ITEMS, json={"organizationId": str(org), "name": " probe "}, headers=headers
    )
    assert created.status_code == 201, created.text
    item = created.json()["data"]
    assert (item["organizationId"], item["name"]) == (str(org), "probe")

    row = await admin_db.fetchrow(
        "SELECT org_id, name FROM security.items WHERE id = $1", uuid.UUID(item["id"])
    )
    assert row is not None
    assert (row["org_id"], row["name"]) == (org, "probe")
    event = await admin_db.fetchrow(
        "SELECT event_type, payload->>'organizationId' AS org FROM security.outbox "
        "WHERE payload->>'aggregateId' = $1",
        item["id"],
    )
    assert event is not None
    assert (event["event_type"], event["org"]) == ("security_item.created", str(org))

    # A customer admin of that organization sees it; one of another organization does not.
    own = await _auth(mint_token, role=Role.SUPER_ADMIN, org_id=org)
    listed = await client.get(ITEMS, headers=own)
    assert listed.status_code == 200, listed.text
    assert item["id"] in [i["id"] for i in listed.json()["data"]]
    stranger = await _auth(
        mint_token,
        role=None,
        permissions=["alerts:read", "alerts:create"],
        org_id=uuid.uuid4(),
        org_type=OrganizationType.CUSTOMER,
    )
    others = await client.get(ITEMS, headers=stranger)
    assert others.status_code == 200, others.text
    assert item["id"] not in [i["id"] for i in others.json()["data"]]

    # Writing into an organization outside one's scope is refused as if it did not exist.
    refused = await client.post(
        ITEMS, json={"organizationId": str(org), "name": "intrusion"}, headers=stranger
    )
    assert refused.status_code == 404, refused.text
    assert refused.json()["code"] == "NOT_FOUND"


async def test_bad_input_and_missing_permission_are_refused(
    client: httpx.AsyncClient, mint_token: TokenFactory
) -> None:
    headers = await _auth(mint_token, role=Role.SUPER_ADMIN)
    blank = await client.post(ITEMS, json={"name": "  "}, headers=headers)
    assert blank.status_code == 422, blank.text
    assert blank.json()["success"] is False

    nobody = await _auth(mint_token, role=None, permissions=[], org_type=OrganizationType.CUSTOMER)
    assert (await client.get(ITEMS, headers=nobody)).status_code == 403
    assert (await client.get(ITEMS)).status_code == 401
