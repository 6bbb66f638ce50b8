"""The organization app, its runtime and fresh organizations, staff and grants for its tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from mss_auth.tokens import KeyLoader
from mss_bus.consumer import apply_once
from mss_contracts.events import EventContext, UserCreated, new_event
from mss_contracts.permissions import OrganizationType, Role
from mss_organization.consumers.on_user_event import on_user_event
from mss_organization.main import build_runtime, create_app
from mss_service import ServiceRuntime
from mss_settings import PlatformSettings
from mss_testing.plugin import TokenFactory, owners_serving, running

Headers = dict[str, str]
HeadersFor = Callable[..., Awaitable[Headers]]
NewOrg = Callable[[], Awaitable[str]]
NewStaff = Callable[..., Awaitable[uuid.UUID]]
NewGrant = Callable[..., Awaitable[dict[str, Any]]]
Events = Callable[[str], Awaitable[list[dict[str, Any]]]]

# Every staff member of these tests belongs to one provider organization (ids only).
PROVIDER_ORG = uuid.uuid4()


@pytest.fixture
async def org_runtime(
    platform_settings: PlatformSettings, key_loader: KeyLoader
) -> AsyncIterator[ServiceRuntime]:
    """The service's runtime, for calling use cases and consumers directly."""
    runtime = build_runtime(key_loader)
    yield runtime
    await runtime.close()


@pytest.fixture
async def client(
    platform_settings: PlatformSettings, key_loader: KeyLoader, signing_keys_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The app without its relay: events stay in organization.outbox for the assertions.

    Identity's real app answers the staff directory's misses (in-process, without its
    relay): a user no test made is unknown there too, as in production.
    """
    app = create_app(lambda: build_runtime(key_loader), run_relay=False)
    async with running(app) as c, owners_serving(app, "identity"):
        yield c


@pytest.fixture
def headers_for(mint_token: TokenFactory) -> HeadersFor:
    """`await headers_for(Role.TECHNICIAN, user_id=...)` → an Authorization header."""

    async def make(
        role: Role = Role.SUPER_ADMIN,
        *,
        user_id: uuid.UUID | None = None,
        org_id: uuid.UUID | str | None = None,
    ) -> Headers:
        customer = role in {Role.ADMIN, Role.REPORT_VIEWER, Role.REQUEST_USER, Role.BASIC_USER}
        token = await mint_token(
            role=role,
            user_id=user_id,
            org_id=uuid.UUID(str(org_id)) if org_id else PROVIDER_ORG,
            org_type=OrganizationType.CUSTOMER if customer else OrganizationType.MSS_PROVIDER,
        )
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
async def admin(headers_for: HeadersFor) -> Headers:
    return await headers_for(Role.SUPER_ADMIN)


@pytest.fixture
def new_customer(client: httpx.AsyncClient, admin: Headers) -> NewOrg:
    """`await new_customer()` → the id of a fresh customer organization."""

    async def create() -> str:
        response = await client.post(
            "/api/organizations", json={"name": f"Customer {uuid.uuid4().hex[:8]}"}, headers=admin
        )
        assert response.status_code == 201, response.text
        org_id: str = response.json()["data"]["id"]
        return org_id

    return create


@pytest.fixture
def new_staff(org_runtime: ServiceRuntime) -> NewStaff:
    """`await new_staff(role, status)`: a user known to the staff directory, through the
    consumer of identity's user.created exactly as the worker applies it."""

    async def create(role: Role = Role.TECHNICIAN, status: str = "active") -> uuid.UUID:
        user_id = uuid.uuid4()
        envelope = new_event(
            UserCreated(
                email=f"{user_id.hex[:10]}@provider.example",
                first_name="Tess",
                last_name="Tech",
                role=role,
                status=status,
            ),
            aggregate_id=user_id,
            organization_id=PROVIDER_ORG,
            version=1,
            context=EventContext(),
        )
        assert await apply_once(org_runtime.uow, envelope, on_user_event)
        return user_id

    return create


def _grant_body(technician_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "technicianId": str(technician_id),
        "accessLevel": "standard",
        "expiresAt": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "allowedServices": ["ssh", "rdp"],
        "ipRestrictions": [],
        "timeRestrictions": None,
        "notes": "quarterly patching",
    }
    body.update(changes)
    return body


@pytest.fixture
def grant_body() -> Callable[..., dict[str, Any]]:
    """`grant_body(technician_id, **changes)` → a valid grant request body, changed."""
    return _grant_body


@pytest.fixture
def new_grant(client: httpx.AsyncClient, admin: Headers) -> NewGrant:
    """`await new_grant(org_id, technician_id, **body changes)` → the created grant."""

    async def create(org_id: str, technician_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
        response = await client.post(
            f"/api/organizations/{org_id}/technician-access",
            json=_grant_body(technician_id, **changes),
            headers=admin,
        )
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    return create


@pytest.fixture
def granted_technician(
    new_customer: NewOrg, new_staff: NewStaff, new_grant: NewGrant, headers_for: HeadersFor
) -> Callable[..., Awaitable[tuple[str, uuid.UUID, dict[str, Any], Headers]]]:
    """`await granted_technician(**grant changes)` → (customer org id, technician id, its
    grant on the org, the technician's headers)."""

    async def create(**changes: Any) -> tuple[str, uuid.UUID, dict[str, Any], Headers]:
        org_id, technician = await new_customer(), await new_staff()
        grant = await new_grant(org_id, technician, **changes)
        return org_id, technician, grant, await headers_for(Role.TECHNICIAN, user_id=technician)

    return create


@pytest.fixture
def outbox_events(admin_db: asyncpg.Connection) -> Events:
    """`await outbox_events(aggregate_id)` → its envelopes still in the outbox, oldest first."""

    async def read(aggregate_id: str) -> list[dict[str, Any]]:
        rows = await admin_db.fetch(
            "SELECT payload FROM organization.outbox WHERE payload->>'aggregateId' = $1 "
            "ORDER BY created_at, id",
            str(aggregate_id),
        )
        return [json.loads(row["payload"]) for row in rows]

    return read
