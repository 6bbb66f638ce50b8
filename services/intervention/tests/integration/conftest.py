"""The intervention app, its runtime, and customer organizations and grants seeded into its
projections exactly as their events would leave them."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from mss_auth.tokens import KeyLoader
from mss_bus.consumer import apply_once
from mss_contracts.access import GrantStatus
from mss_contracts.events import EventContext, OrganizationCreated, new_event
from mss_contracts.permissions import OrganizationType, Role
from mss_db import OrgScope
from mss_grants import GrantState, record_grant
from mss_intervention.main import build_runtime, create_app
from mss_intervention.worker import apply_event
from mss_service import ServiceRuntime
from mss_settings import PlatformSettings
from mss_testing.plugin import TokenFactory, owners_serving, running

Headers = dict[str, str]
HeadersFor = Callable[..., Awaitable[Headers]]
NewOrg = Callable[..., Awaitable[uuid.UUID]]
Grant = Callable[..., Awaitable[uuid.UUID]]
Events = Callable[[str], Awaitable[list[dict[str, Any]]]]

PROVIDER_ORG = uuid.uuid4()
CUSTOMER_ROLES = {Role.ADMIN, Role.REPORT_VIEWER, Role.REQUEST_USER, Role.BASIC_USER}


@pytest.fixture
async def runtime(
    platform_settings: PlatformSettings, key_loader: KeyLoader
) -> AsyncIterator[ServiceRuntime]:
    """The service's runtime, for calling use cases, consumers and the SLA clock directly."""
    rt = build_runtime(key_loader)
    yield rt
    await rt.close()


@pytest.fixture
async def client(
    platform_settings: PlatformSettings, key_loader: KeyLoader
) -> AsyncIterator[httpx.AsyncClient]:
    """The app without its relay (events stay in the outbox); the organization service's
    real app answers projection misses in-process."""
    app = create_app(lambda: build_runtime(key_loader), run_relay=False)
    async with running(app) as c, owners_serving(app, "organization"):
        yield c


@pytest.fixture
def headers_for(mint_token: TokenFactory) -> HeadersFor:
    """`await headers_for(Role.REQUEST_USER, org_id=...)` → an Authorization header."""

    async def make(
        role: Role = Role.SUPER_ADMIN,
        *,
        user_id: uuid.UUID | None = None,
        org_id: uuid.UUID | None = None,
    ) -> Headers:
        customer = role in CUSTOMER_ROLES
        token = await mint_token(
            role=role,
            user_id=user_id,
            org_id=org_id or PROVIDER_ORG,
            org_type=OrganizationType.CUSTOMER if customer else OrganizationType.MSS_PROVIDER,
        )
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def new_customer(runtime: ServiceRuntime) -> NewOrg:
    """`await new_customer(settings={...})`: a customer organization, through the consumer
    of organization.created exactly as the worker applies it."""

    async def create(settings: dict[str, Any] | None = None) -> uuid.UUID:
        org_id = uuid.uuid4()
        envelope = new_event(
            OrganizationCreated(
                name=f"Customer {org_id.hex[:6]}",
                type=OrganizationType.CUSTOMER,
                status="active",
                settings=settings or {},
            ),
            aggregate_id=org_id,
            organization_id=org_id,
            version=1,
            context=EventContext(),
        )
        assert await apply_once(runtime.uow, envelope, apply_event)
        return org_id

    return create


@pytest.fixture
def grant(runtime: ServiceRuntime) -> Grant:
    """`await grant(org_id, technician_id)`: an active grant in the projection."""

    async def create(
        org_id: uuid.UUID, technician_id: uuid.UUID, *, status: GrantStatus = GrantStatus.ACTIVE
    ) -> uuid.UUID:
        grant_id = uuid.uuid4()
        async with runtime.uow(OrgScope.everything()) as uow:
            await record_grant(
                uow,
                GrantState(
                    id=grant_id,
                    org_id=org_id,
                    technician_id=technician_id,
                    status=status,
                    version=1,
                    expires_at=datetime.now(UTC) + timedelta(hours=1),
                    allowed_services=["ssh"],
                    ip_restrictions=[],
                    time_restrictions=None,
                ),
            )
            await uow.commit()
        return grant_id

    return create


@pytest.fixture
def outbox_events(admin_db: asyncpg.Connection) -> Events:
    """`await outbox_events(aggregate_id)` → its envelopes still in the outbox, oldest first."""

    async def read(aggregate_id: str) -> list[dict[str, Any]]:
        rows = await admin_db.fetch(
            "SELECT payload FROM intervention.outbox WHERE payload->>'aggregateId' = $1 "
            "ORDER BY created_at, id",
            str(aggregate_id),
        )
        return [json.loads(row["payload"]) for row in rows]

    return read
