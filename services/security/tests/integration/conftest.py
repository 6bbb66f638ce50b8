"""The security app, its runtime, and fresh customers, users and API keys for its tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from mss_auth.tokens import KeyLoader
from mss_bus.consumer import apply_once
from mss_contracts.events import EventContext, OrganizationCreated, UserCreated, new_event
from mss_contracts.permissions import CUSTOMER_ROLES, OrganizationType, Role
from mss_security.consumers.on_directory_event import on_directory_event
from mss_security.main import build_runtime, create_app
from mss_service import ServiceRuntime
from mss_settings import PlatformSettings
from mss_testing.plugin import TokenFactory, owners_serving, running

Headers = dict[str, str]
HeadersFor = Callable[..., Awaitable[Headers]]
NewOrg = Callable[..., Awaitable[uuid.UUID]]
NewUser = Callable[..., Awaitable[uuid.UUID]]
Events = Callable[[str], Awaitable[list[dict[str, Any]]]]

PROVIDER_ORG = uuid.uuid4()


@pytest.fixture
async def security_runtime(
    platform_settings: PlatformSettings, key_loader: KeyLoader
) -> AsyncIterator[ServiceRuntime]:
    """The service's runtime, for applying events and calling use cases directly."""
    runtime = build_runtime(key_loader)
    yield runtime
    await runtime.close()


@pytest.fixture
async def client(
    platform_settings: PlatformSettings, key_loader: KeyLoader, signing_keys_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The app without its relay (events stay in security.outbox for the assertions);
    identity's and organization's real apps answer the directories' misses in-process."""
    app = create_app(lambda: build_runtime(key_loader), run_relay=False)
    async with running(app) as c, owners_serving(app, "identity", "organization"):
        yield c


@pytest.fixture
def headers_for(mint_token: TokenFactory) -> HeadersFor:
    """`await headers_for(Role.ADMIN, org_id=...)`, or `api_key=True` for an integration's
    token holding only `alerts:create` on `org_id`."""

    async def make(
        role: Role | None = Role.SUPER_ADMIN,
        *,
        user_id: uuid.UUID | None = None,
        org_id: uuid.UUID | None = None,
        api_key: bool = False,
    ) -> Headers:
        customer = api_key or role in CUSTOMER_ROLES
        token = await mint_token(
            role=None if api_key else role,
            user_id=user_id,
            org_id=org_id or PROVIDER_ORG,
            org_type=OrganizationType.CUSTOMER if customer else OrganizationType.MSS_PROVIDER,
            permissions=["alerts:create"] if api_key else None,
        )
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
async def admin(headers_for: HeadersFor) -> Headers:
    return await headers_for(Role.SUPER_ADMIN)


@pytest.fixture
def new_customer(security_runtime: ServiceRuntime) -> NewOrg:
    """`await new_customer(quota=...)`: a customer organization in the directory, through
    the consumer of organization.created exactly as the worker applies it."""

    async def create(quota: int | None = None) -> uuid.UUID:
        org_id = uuid.uuid4()
        settings = {} if quota is None else {"alertQuotaPerMinute": quota}
        envelope = new_event(
            OrganizationCreated(
                name=f"Customer {org_id.hex[:6]}",
                type=OrganizationType.CUSTOMER,
                status="active",
                settings=settings,
            ),
            aggregate_id=org_id,
            organization_id=org_id,
            version=1,
            context=EventContext(),
        )
        assert await apply_once(security_runtime.uow, envelope, on_directory_event)
        return org_id

    return create


@pytest.fixture
def new_user(security_runtime: ServiceRuntime) -> NewUser:
    """`await new_user(role, org_id=...)`: a user in the directory (user.created applied)."""

    async def create(
        role: Role = Role.SECURITY_ANALYST,
        *,
        org_id: uuid.UUID | None = None,
        status: str = "active",
    ) -> uuid.UUID:
        user_id = uuid.uuid4()
        envelope = new_event(
            UserCreated(
                email=f"{user_id.hex[:10]}@example.com",
                first_name="Ana",
                last_name="Lyst",
                role=role,
                status=status,
            ),
            aggregate_id=user_id,
            organization_id=org_id or PROVIDER_ORG,
            version=1,
            context=EventContext(),
        )
        assert await apply_once(security_runtime.uow, envelope, on_directory_event)
        return user_id

    return create


@pytest.fixture
def outbox_events(admin_db: asyncpg.Connection) -> Events:
    """`await outbox_events(aggregate_id)` → its envelopes still in the outbox, oldest first."""

    async def read(aggregate_id: str) -> list[dict[str, Any]]:
        rows = await admin_db.fetch(
            "SELECT payload FROM security.outbox WHERE payload->>'aggregateId' = $1 "
            "ORDER BY created_at, id",
            str(aggregate_id),
        )
        return [json.loads(row["payload"]) for row in rows]

    return read
