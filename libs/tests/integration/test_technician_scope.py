"""A technician's org scope follows its grants: projected from events, checked per request.

The projection lives in identity's schema here (any service's works the same way); the
app is a bare one using the shared auth dependency, so what it answers is exactly the
scope every service's routes and RLS receive.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from mss_auth.dependencies import AuthRuntime, CurrentPrincipal
from mss_auth.sessions import SessionStore
from mss_auth.tokens import KeyLoader, TokenVerifier
from mss_bus.consumer import apply_once
from mss_contracts.access import AccessLevel, TimeRestrictions
from mss_contracts.events import (
    EventContext,
    EventData,
    TechnicianAccessGranted,
    TechnicianAccessRevoked,
    new_event,
)
from mss_contracts.permissions import OrganizationType, Role
from mss_db import UnitOfWorkFactory
from mss_db.engine import create_engine
from mss_db.migrations import app_role
from mss_grants import TableGrantLookup, apply_grant_event
from mss_settings import PlatformSettings, role_database_url
from mss_testing.plugin import TokenFactory

pytestmark = pytest.mark.integration

SCHEMA = "identity"
CLIENT_IP = "127.0.0.1"  # what `httpx.ASGITransport` reports as the peer


@pytest.fixture
async def engine(platform_settings: PlatformSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(role_database_url(platform_settings, app_role(SCHEMA)), pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def scope_of(
    engine: AsyncEngine, key_loader: KeyLoader, platform_settings: PlatformSettings
) -> AsyncIterator[Any]:
    """`await scope_of(token)` → the `(allOrgs, orgIds)` the shared dependency computes."""
    app = FastAPI()
    redis: Redis = Redis.from_url(platform_settings.redis_url)
    app.state.auth = AuthRuntime(
        verifier=TokenVerifier(
            load_keys=key_loader,
            issuer=platform_settings.token_issuer,
            audience=platform_settings.token_audience,
        ),
        sessions=SessionStore(redis),
        trusted_proxies=[],
        grants=TableGrantLookup(engine, SCHEMA, "technician_grants"),
    )

    @app.get("/scope")
    async def scope(principal: CurrentPrincipal) -> dict[str, Any]:
        return {
            "all": principal.scope.all_orgs,
            "orgs": sorted(str(org) for org in principal.scope.org_ids),
        }

    transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:

        async def read(token: str) -> dict[str, Any]:
            response = await client.get("/scope", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        yield read
    await redis.aclose()


async def _apply(
    engine: AsyncEngine,
    data: EventData,
    *,
    grant_id: uuid.UUID,
    org_id: uuid.UUID,
    version: int,
) -> None:
    envelope = new_event(
        data,
        aggregate_id=grant_id,
        organization_id=org_id,
        version=version,
        context=EventContext(),
    )
    assert await apply_once(UnitOfWorkFactory(engine, SCHEMA), envelope, apply_grant_event)


def _granted(technician: uuid.UUID, **terms: Any) -> TechnicianAccessGranted:
    return TechnicianAccessGranted.model_validate(
        {
            "technicianId": technician,
            "accessLevel": AccessLevel.STANDARD,
            "grantedBy": uuid.uuid4(),
            "expiresAt": datetime.now(UTC) + timedelta(hours=1),
            "allowedServices": ["ssh"],
            **terms,
        }
    )


def _revoked(technician: uuid.UUID) -> TechnicianAccessRevoked:
    return TechnicianAccessRevoked(technician_id=technician, revoked_by=uuid.uuid4(), reason="x")


async def test_a_grant_widens_the_technicians_scope_until_it_is_revoked(
    engine: AsyncEngine, scope_of: Any, mint_token: TokenFactory
) -> None:
    technician, provider, customer, grant = (uuid.uuid4() for _ in range(4))
    token = await mint_token(role=Role.TECHNICIAN, org_id=provider, user_id=technician)
    assert await scope_of(token) == {"all": False, "orgs": [str(provider)]}

    await _apply(engine, _granted(technician), grant_id=grant, org_id=customer, version=1)
    assert await scope_of(token) == {"all": False, "orgs": sorted([str(provider), str(customer)])}

    await _apply(engine, _revoked(technician), grant_id=grant, org_id=customer, version=2)
    assert await scope_of(token) == {"all": False, "orgs": [str(provider)]}


async def test_a_late_grant_event_does_not_revive_a_revoked_grant(
    engine: AsyncEngine, scope_of: Any, mint_token: TokenFactory
) -> None:
    technician, provider, customer, grant = (uuid.uuid4() for _ in range(4))
    token = await mint_token(role=Role.TECHNICIAN, org_id=provider, user_id=technician)
    await _apply(engine, _revoked(technician), grant_id=grant, org_id=customer, version=2)
    await _apply(engine, _granted(technician), grant_id=grant, org_id=customer, version=1)
    assert await scope_of(token) == {"all": False, "orgs": [str(provider)]}


@pytest.mark.parametrize(
    "terms",
    [
        pytest.param({"expiresAt": datetime.now(UTC) - timedelta(seconds=1)}, id="expired"),
        pytest.param({"ipRestrictions": ["10.20.0.0/16"]}, id="address-outside"),
        pytest.param(
            {
                "timeRestrictions": TimeRestrictions(
                    timezone="UTC",
                    days=[(datetime.now(UTC) + timedelta(days=3)).isoweekday()],
                    start="00:00",
                    end="23:59",
                )
            },
            id="day-outside",
        ),
    ],
)
async def test_a_grant_that_does_not_admit_the_request_opens_nothing(
    engine: AsyncEngine, scope_of: Any, mint_token: TokenFactory, terms: dict[str, Any]
) -> None:
    technician, provider, customer = (uuid.uuid4() for _ in range(3))
    token = await mint_token(role=Role.TECHNICIAN, org_id=provider, user_id=technician)
    await _apply(
        engine, _granted(technician, **terms), grant_id=uuid.uuid4(), org_id=customer, version=1
    )
    assert await scope_of(token) == {"all": False, "orgs": [str(provider)]}


async def test_a_matching_address_restriction_admits(
    engine: AsyncEngine, scope_of: Any, mint_token: TokenFactory
) -> None:
    technician, provider, customer = (uuid.uuid4() for _ in range(3))
    token = await mint_token(role=Role.TECHNICIAN, org_id=provider, user_id=technician)
    granted = _granted(technician, ipRestrictions=["10.0.0.0/8", f"{CLIENT_IP}/32"])
    await _apply(engine, granted, grant_id=uuid.uuid4(), org_id=customer, version=1)
    assert str(customer) in (await scope_of(token))["orgs"]


async def test_other_roles_are_not_widened_by_a_grant_in_their_name(
    engine: AsyncEngine, scope_of: Any, mint_token: TokenFactory
) -> None:
    """Only technicians are scoped by grants (an analyst's scope is every org anyway)."""
    user, customer, other = (uuid.uuid4() for _ in range(3))
    await _apply(engine, _granted(user), grant_id=uuid.uuid4(), org_id=customer, version=1)
    token = await mint_token(
        role=Role.ADMIN, org_id=other, org_type=OrganizationType.CUSTOMER, user_id=user
    )
    assert await scope_of(token) == {"all": False, "orgs": [str(other)]}
