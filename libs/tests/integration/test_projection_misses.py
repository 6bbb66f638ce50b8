"""A projection miss is not an answer: the real identity and organization apps, in-process,
each the other's owner, on the test database.

Both run without their relays, so no event reaches the other's projection: whatever a
projection learns here, it learned by asking the owner's internal endpoint. A counting
transport between them tells how often each owner was asked.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from mss_auth.tokens import KeyLoader
from mss_bus.consumer import apply_once
from mss_contracts.access import AccessLevel
from mss_contracts.events import (
    EventContext,
    EventEnvelope,
    OrganizationSuspended,
    TechnicianAccessGranted,
    new_event,
)
from mss_contracts.internal import OrganizationRecord
from mss_contracts.permissions import OrganizationType, Role
from mss_db import OrgScope
from mss_grants import apply_grant_event
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.application.org_directory import (
    record_fetched_organization,
    record_organization,
)
from mss_identity.consumers.on_organization_event import on_organization_event
from mss_identity.main import create_app as identity_app
from mss_organization.consumers.on_user_event import on_user_event
from mss_organization.main import build_runtime as organization_runtime
from mss_organization.main import create_app as organization_app
from mss_projections import Fetched, ProjectionSource
from mss_service import ServiceRuntime
from mss_settings import PlatformSettings
from mss_testing.plugin import TokenFactory, serving

pytestmark = pytest.mark.integration

PASSWORD = "violet tractor sings under nine lanterns"
# Prompt: no wait for the owner's deadline (5 s in these tests). The figure that matters is
# measured warm through the gateway (tests-e2e/test_read_your_writes.py); here the bound
# leaves room for a machine the tests share.
PROMPT_S = 2.0


class Counting(httpx.AsyncBaseTransport):
    """The owner's transport, noting the path of every request it carries."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await self.inner.handle_async_request(request)

    def asked(self, fragment: str) -> int:
        return sum(fragment in path for path in self.paths)


@dataclass
class Platform:
    identity: httpx.AsyncClient
    organization: httpx.AsyncClient
    identity_rt: ServiceRuntime
    organization_rt: ServiceRuntime
    to_organization: Counting
    to_identity: Counting
    admin: dict[str, str]
    provider: uuid.UUID
    db: asyncpg.Connection
    emails: list[str] = field(default_factory=list)

    async def new_customer(self) -> str:
        created = await self.organization.post(
            "/api/organizations",
            json={"name": f"Customer {uuid.uuid4().hex[:8]}"},
            headers=self.admin,
        )
        assert created.status_code == 201, created.text
        org_id: str = created.json()["data"]["id"]
        return org_id

    async def invite(self, org_id: str | uuid.UUID, role: str = "admin") -> httpx.Response:
        email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
        self.emails.append(email)
        body = {
            "organizationId": str(org_id),
            "email": email,
            "firstName": "Ada",
            "lastName": "Lovelace",
            "role": role,
        }
        return await self.identity.post("/api/users", json=body, headers=self.admin)

    async def accept(self, user_id: str) -> None:
        """The invited user follows the mailed link (its token, read from identity's outbox)."""
        token = await self.db.fetchval(
            "SELECT payload->'data'->>'invitationToken' FROM identity.outbox "
            "WHERE event_type = 'user.invited' AND payload->>'aggregateId' = $1",
            user_id,
        )
        accepted = await self.identity.post(
            "/api/auth/password/reset", json={"token": token, "newPassword": PASSWORD}
        )
        assert accepted.status_code in (200, 204), accepted.text

    async def technician(self) -> tuple[str, str]:
        """An invited technician who accepted at once: (user id, email), active in identity."""
        invited = await self.invite(self.provider, "technician")
        assert invited.status_code == 201, invited.text
        user_id: str = invited.json()["data"]["id"]
        await self.accept(user_id)
        return user_id, self.emails[-1]

    def fresh_org_source(self, clock: Any = time.monotonic) -> ProjectionSource[Any]:
        """Identity's organization source as a new process would have it (nothing remembered)."""
        rt = self.identity_rt
        return ProjectionSource(
            owner="organization",
            path="/internal/organizations/{id}",
            record=OrganizationRecord,
            apply=record_fetched_organization,
            owners=rt.owners,
            store=rt.uow,
            clock=clock,
        )

    async def grant(self, org_id: str, technician_id: str | uuid.UUID) -> httpx.Response:
        body = {
            "technicianId": str(technician_id),
            "accessLevel": "standard",
            "expiresAt": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            "allowedServices": ["ssh"],
            "ipRestrictions": [],
            "timeRestrictions": None,
            "notes": None,
        }
        return await self.organization.post(
            f"/api/organizations/{org_id}/technician-access", json=body, headers=self.admin
        )


async def _seed_provider(runtime: ServiceRuntime, provider: uuid.UUID) -> None:
    """The provider organization in identity's directory, as its event would leave it."""
    state = OrganizationRecord(
        id=provider, name="Provider", type=OrganizationType.MSS_PROVIDER, status="active", version=1
    )
    async with runtime.uow(OrgScope.everything()) as uow:
        await record_organization(uow, provider, state, 1)
        await uow.commit()


@pytest.fixture
async def platform(
    platform_settings: PlatformSettings,
    key_loader: KeyLoader,
    mint_token: TokenFactory,
    admin_db: asyncpg.Connection,
) -> AsyncIterator[Platform]:
    identity: FastAPI = identity_app(run_relay=False)
    organization: FastAPI = organization_app(
        lambda: organization_runtime(key_loader), run_relay=False
    )
    async with serving(identity) as to_identity, serving(organization) as to_organization:
        counted_identity, counted_organization = Counting(to_identity), Counting(to_organization)
        identity.state.runtime.owners.mount("organization", counted_organization)
        organization.state.runtime.owners.mount("identity", counted_identity)
        provider = uuid.uuid4()
        await _seed_provider(identity.state.runtime, provider)
        token = await mint_token(role=Role.SUPER_ADMIN, org_id=provider)
        async with (
            httpx.AsyncClient(transport=to_identity, base_url="http://identity") as i,
            httpx.AsyncClient(transport=to_organization, base_url="http://organization") as o,
        ):
            # Warm both apps (first connections) on internal reads the counters do not see.
            for client, caller, owner, path in (
                (i, organization.state.runtime, "identity", "/internal/users"),
                (o, identity.state.runtime, "organization", "/internal/organizations"),
            ):
                warm = await client.get(
                    f"{path}/{uuid.uuid4()}",
                    headers={"Authorization": f"Bearer {caller.service_tokens.issue(owner)}"},
                )
                assert warm.status_code == 404, warm.text
            yield Platform(
                identity=i,
                organization=o,
                identity_rt=identity.state.runtime,
                organization_rt=organization.state.runtime,
                to_organization=counted_organization,
                to_identity=counted_identity,
                admin={"Authorization": f"Bearer {token}"},
                provider=provider,
                db=admin_db,
            )


def _fetches(owner: str, record: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "mss_projection_fetches_total", {"owner": owner, "record": record, "outcome": outcome}
    )
    return value or 0.0


# --- organizations in identity ---------------------------------------------------------------


async def test_an_organization_created_a_moment_ago_takes_its_first_admin_at_once(
    platform: Platform,
) -> None:
    org_id = await platform.new_customer()

    invited = await platform.invite(org_id)

    assert invited.status_code == 201, invited.text
    assert platform.to_organization.asked(f"/internal/organizations/{org_id}") == 1
    row = await platform.db.fetchrow(
        "SELECT name, type, status, version FROM identity.org_directory WHERE id = $1",
        uuid.UUID(org_id),
    )
    assert row is not None
    assert (row["type"], row["status"], row["version"]) == ("customer", "active", 1)
    # Now held: the next invitation asks nobody.
    assert (await platform.invite(org_id)).status_code == 201
    assert platform.to_organization.asked("/internal/organizations/") == 1


async def test_concurrent_misses_of_one_organization_share_one_fetch(platform: Platform) -> None:
    org_id = await platform.new_customer()

    answers = await asyncio.gather(*(platform.invite(org_id) for _ in range(12)))

    assert [a.status_code for a in answers] == [201] * 12, [a.text for a in answers]
    assert platform.to_organization.asked(f"/internal/organizations/{org_id}") == 1


async def test_an_unknown_organization_is_a_prompt_404_asked_once(platform: Platform) -> None:
    unknown = uuid.uuid4()
    started = time.monotonic()
    first = await platform.invite(unknown)
    elapsed = time.monotonic() - started

    assert first.status_code == 404, first.text
    assert first.json()["code"] == "NOT_FOUND"
    assert elapsed < PROMPT_S
    for _ in range(4):
        assert (await platform.invite(unknown)).status_code == 404
    # The owner's 404 is remembered: no amplification from retries of an unknown id.
    assert platform.to_organization.asked(f"/internal/organizations/{unknown}") == 1


async def test_an_id_is_asked_again_only_after_the_interval(platform: Platform) -> None:
    now = [1000.0]
    source = platform.fresh_org_source(clock=lambda: now[0])
    unknown = uuid.uuid4()

    assert await source.fetch(unknown) is Fetched.NOT_FOUND
    now[0] += 1.9
    assert await source.fetch(unknown) is Fetched.NOT_FOUND
    assert platform.to_organization.asked(str(unknown)) == 1
    now[0] += 0.2
    assert await source.fetch(unknown) is Fetched.NOT_FOUND
    assert platform.to_organization.asked(str(unknown)) == 2


async def test_an_older_fetch_never_overwrites_a_newer_event(platform: Platform) -> None:
    """The owner still says version 1 (active) while identity has applied version 2
    (suspended): the fetch the suspension prompts changes nothing, and the org stays
    suspended."""
    org_id = uuid.UUID(await platform.new_customer())
    newer = new_event(
        OrganizationSuspended(name="Customer", type=OrganizationType.CUSTOMER, status="suspended"),
        aggregate_id=org_id,
        organization_id=org_id,
        version=2,
        context=EventContext(),
    )
    rt = platform.identity_rt
    assert await apply_once(rt.uow, newer, on_organization_event(rt.sessions))

    async with rt.uow(OrgScope.everything()) as uow:
        # Seen suspended, so asked again before anyone is refused on it...
        org = await IdentityRepository(uow).org(org_id)
    assert platform.to_organization.asked(f"/internal/organizations/{org_id}") == 1
    # ...and the older answer did not win.
    assert org is not None
    assert org.status == "suspended"
    row = await platform.db.fetchrow(
        "SELECT status, version FROM identity.org_directory WHERE id = $1", org_id
    )
    assert row is not None
    assert (row["status"], row["version"]) == ("suspended", 2)


async def test_a_fetch_brings_a_newer_state_than_the_projection_held(platform: Platform) -> None:
    """Identity saw the org suspended (version 2); it was reactivated since (version 3),
    whose event is still on its way: the refetch before refusing brings it."""
    org_id = await platform.new_customer()
    for step in ("suspend", "reactivate"):
        changed = await platform.organization.post(
            f"/api/organizations/{org_id}/{step}", headers=platform.admin
        )
        assert changed.status_code == 200, changed.text
    stale = OrganizationRecord(
        id=uuid.UUID(org_id),
        name="Customer",
        type=OrganizationType.CUSTOMER,
        status="suspended",
        version=2,
    )
    rt = platform.identity_rt
    async with rt.uow(OrgScope.everything()) as uow:
        await record_fetched_organization(uow, stale)
        await uow.commit()

    assert (await platform.invite(org_id)).status_code == 201
    row = await platform.db.fetchrow(
        "SELECT status, version FROM identity.org_directory WHERE id = $1", uuid.UUID(org_id)
    )
    assert row is not None
    assert (row["status"], row["version"]) == ("active", 3)


async def test_the_suspension_event_still_ends_sessions_after_a_fetch_stored_it(
    platform: Platform,
) -> None:
    """A fetch writes the directory only; the suspension's event, arriving after a fetch
    already stored that version, still ends the organization's sessions."""
    org_id = await platform.new_customer()
    invited = await platform.invite(org_id)
    assert invited.status_code == 201, invited.text
    user_id = invited.json()["data"]["id"]
    await platform.accept(user_id)
    login = await platform.identity.post(
        "/api/auth/login", json={"email": platform.emails[-1], "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    suspend = await platform.organization.post(
        f"/api/organizations/{org_id}/suspend", headers=platform.admin
    )
    assert suspend.status_code == 200, suspend.text
    assert await platform.fresh_org_source().fetch(uuid.UUID(org_id)) is Fetched.STORED
    stored = await platform.db.fetchval(
        "SELECT version FROM identity.org_directory WHERE id = $1", uuid.UUID(org_id)
    )
    assert stored == 2
    payload = await platform.db.fetchval(
        "SELECT payload FROM organization.outbox WHERE event_type = 'organization.suspended' "
        "AND payload->>'aggregateId' = $1",
        org_id,
    )
    rt = platform.identity_rt

    assert await apply_once(
        rt.uow, EventEnvelope.model_validate_json(payload), on_organization_event(rt.sessions)
    )

    statuses = await platform.db.fetch(
        "SELECT status FROM identity.user_sessions WHERE user_id = $1", uuid.UUID(user_id)
    )
    assert [row["status"] for row in statuses] == ["revoked"]
    me = await platform.identity.get(
        "/api/auth/me",
        headers={"Authorization": f"Bearer {login.json()['data']['accessToken']}"},
    )
    assert me.status_code == 401


# --- staff in organization ---------------------------------------------------------------------


async def test_a_technician_created_a_moment_ago_is_granted_at_once(platform: Platform) -> None:
    org_id = await platform.new_customer()
    technician, _ = await platform.technician()

    granted = await platform.grant(org_id, technician)

    assert granted.status_code == 201, granted.text
    assert platform.to_identity.asked(f"/internal/users/{technician}") == 1
    row = await platform.db.fetchrow(
        "SELECT role, status, version FROM organization.staff_directory WHERE user_id = $1",
        uuid.UUID(technician),
    )
    assert row is not None
    assert (row["role"], row["status"], row["version"]) == ("technician", "active", 2)


async def test_a_technician_seen_only_as_invited_is_asked_again_before_a_refusal(
    platform: Platform,
) -> None:
    """The directory has the invitation (version 1); the acceptance (version 2) is still on
    its way: the refusal waits for one refetch, which brings it."""
    org_id = await platform.new_customer()
    technician, _ = await platform.technician()
    (created,) = await platform.db.fetch(
        "SELECT payload FROM identity.outbox WHERE event_type = 'user.created' "
        "AND payload->>'aggregateId' = $1",
        technician,
    )
    event = EventEnvelope.model_validate_json(created["payload"])
    assert await apply_once(platform.organization_rt.uow, event, on_user_event)

    granted = await platform.grant(org_id, technician)

    assert granted.status_code == 201, granted.text
    assert platform.to_identity.asked(f"/internal/users/{technician}") == 1


async def test_a_refusal_asks_again_when_the_owner_changed_within_the_interval(
    platform: Platform,
) -> None:
    """Refused on a record fetched a moment ago (the technician had not yet accepted);
    the cause is fixed at the owner and the client retries at once, before the event
    arrives: the retry is not refused on the remembered record."""
    org_id = await platform.new_customer()
    invited = await platform.invite(platform.provider, "technician")
    assert invited.status_code == 201, invited.text
    technician = invited.json()["data"]["id"]
    refused = await platform.grant(org_id, technician)
    assert refused.status_code == 422, refused.text
    await platform.accept(technician)

    granted = await platform.grant(org_id, technician)

    assert granted.status_code == 201, granted.text
    assert platform.to_identity.asked(f"/internal/users/{technician}") == 2


async def test_an_unknown_technician_is_a_prompt_422_asked_once(platform: Platform) -> None:
    org_id = await platform.new_customer()
    unknown = uuid.uuid4()

    started = time.monotonic()
    refused = await platform.grant(org_id, unknown)
    elapsed = time.monotonic() - started
    again = await platform.grant(org_id, unknown)

    for answer in (refused, again):
        assert answer.status_code == 422, answer.text
        assert "technicianId" in answer.json()["details"]
    assert elapsed < PROMPT_S
    assert platform.to_identity.asked(f"/internal/users/{unknown}") == 1


# --- grants everywhere ------------------------------------------------------------------------


async def test_a_grant_made_a_moment_ago_counts_on_the_technicians_next_request(
    platform: Platform,
) -> None:
    org_id = await platform.new_customer()
    technician, email = await platform.technician()
    assert (await platform.grant(org_id, technician)).status_code == 201
    login = await platform.identity.post(
        "/api/auth/login", json={"email": email, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['data']['accessToken']}"}

    me = await platform.identity.get("/api/auth/me", headers=headers)

    assert me.status_code == 200, me.text
    assert org_id in me.json()["data"]["orgScope"]["organizationIds"]
    grants = f"/internal/technicians/{technician}/grants"
    assert platform.to_organization.asked(grants) == 1
    # Refreshed at most once per interval, however busy the technician.
    for _ in range(3):
        assert (await platform.identity.get("/api/auth/me", headers=headers)).status_code == 200
    assert platform.to_organization.asked(grants) == 1


# --- the owner down ----------------------------------------------------------------------------


@pytest.fixture
async def lonely_identity(
    platform_settings: PlatformSettings, mint_token: TokenFactory
) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceRuntime, dict[str, str]]]:
    """Identity whose organization service does not answer (nothing listens where it is)."""
    app: FastAPI = identity_app(run_relay=False)
    async with serving(app) as transport:
        provider = uuid.uuid4()
        await _seed_provider(app.state.runtime, provider)
        token = await mint_token(role=Role.SUPER_ADMIN, org_id=provider)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            yield client, app.state.runtime, {"Authorization": f"Bearer {token}"}


async def test_a_miss_with_the_owner_down_is_a_prompt_503_and_is_not_retried_at_once(
    lonely_identity: tuple[httpx.AsyncClient, ServiceRuntime, dict[str, str]],
) -> None:
    client, _, admin = lonely_identity
    body = {
        "organizationId": str(uuid.uuid4()),
        "email": "nobody@example.com",
        "firstName": "No",
        "lastName": "Body",
        "role": "admin",
    }
    asked = _fetches("organization", "OrganizationRecord", "unavailable")
    remembered = _fetches("organization", "OrganizationRecord", "remembered")

    started = time.monotonic()
    refused = await client.post("/api/users", json=body, headers=admin)
    elapsed = time.monotonic() - started
    again = await client.post("/api/users", json=body, headers=admin)

    for answer in (refused, again):
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "SERVICE_UNAVAILABLE"
        assert answer.headers["retry-after"] == "1"
    assert elapsed < PROMPT_S
    assert _fetches("organization", "OrganizationRecord", "unavailable") == asked + 1
    assert _fetches("organization", "OrganizationRecord", "remembered") == remembered + 1


async def test_with_the_owner_down_what_the_projection_holds_still_decides(
    lonely_identity: tuple[httpx.AsyncClient, ServiceRuntime, dict[str, str]],
) -> None:
    """An organization held as suspended is judged as held (no 503), and a technician's
    scope is what the grant events left, not an error."""
    _, runtime, _ = lonely_identity
    org_id, technician = uuid.uuid4(), uuid.uuid4()
    suspended = OrganizationRecord(
        id=org_id, name="Gone", type=OrganizationType.CUSTOMER, status="suspended", version=2
    )
    async with runtime.uow(OrgScope.everything()) as uow:
        await record_fetched_organization(uow, suspended)
        await uow.commit()
    granted = new_event(
        TechnicianAccessGranted(
            expires_at=datetime.now(UTC) + timedelta(hours=1),
            allowed_services=["ssh"],
            technician_id=technician,
            access_level=AccessLevel.STANDARD,
            granted_by=uuid.uuid4(),
        ),
        aggregate_id=uuid.uuid4(),
        organization_id=org_id,
        version=1,
        context=EventContext(),
    )
    assert await apply_once(runtime.uow, granted, apply_grant_event)

    async with runtime.uow(OrgScope.everything()) as uow:
        held = await IdentityRepository(uow).org(org_id)
    assert held is not None
    assert held.status == "suspended"  # a login of its users is refused on it, as before
    assert runtime.auth.grants is not None
    scope = await runtime.auth.grants.granted_orgs(
        technician, ip="127.0.0.1", now=datetime.now(UTC)
    )
    assert scope == frozenset({org_id})


# --- the internal endpoints themselves -------------------------------------------------------


@pytest.mark.parametrize("owner", ["identity", "organization"])
async def test_internal_routes_take_a_service_token_for_them_and_nothing_else(
    platform: Platform, mint_token: TokenFactory, owner: str
) -> None:
    client = platform.identity if owner == "identity" else platform.organization
    path = (
        f"/internal/users/{uuid.uuid4()}"
        if owner == "identity"
        else f"/internal/organizations/{uuid.uuid4()}"
    )
    caller = platform.organization_rt if owner == "identity" else platform.identity_rt
    tokens = caller.service_tokens
    refused: dict[str, dict[str, str]] = {
        "no token": {},
        "a user's token": {"Authorization": f"Bearer {await mint_token()}"},
        "another audience": {"Authorization": f"Bearer {tokens.issue('audit')}"},
        "expired": {"Authorization": f"Bearer {tokens.issue(owner, now=time.time() - 120)}"},
    }
    for why, headers in refused.items():
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 401, (why, answer.text)
    allowed = await client.get(path, headers={"Authorization": f"Bearer {tokens.issue(owner)}"})
    assert allowed.status_code == 404, allowed.text  # an unknown id: the owner's 404


async def test_a_service_token_opens_no_public_route(platform: Platform) -> None:
    token = platform.identity_rt.service_tokens.issue("organization")
    answer = await platform.organization.get(
        "/api/organizations", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 401, answer.text


async def test_the_records_carry_what_events_carry_and_the_version(platform: Platform) -> None:
    org_id = await platform.new_customer()
    technician, email = await platform.technician()
    assert (await platform.grant(org_id, technician)).status_code == 201
    to_org = platform.identity_rt.service_tokens.issue("organization")
    to_identity = platform.organization_rt.service_tokens.issue("identity")

    org = await platform.organization.get(
        f"/internal/organizations/{org_id}", headers={"Authorization": f"Bearer {to_org}"}
    )
    user = await platform.identity.get(
        f"/internal/users/{technician}", headers={"Authorization": f"Bearer {to_identity}"}
    )
    grants = await platform.organization.get(
        f"/internal/technicians/{technician}/grants",
        headers={"Authorization": f"Bearer {to_org}"},
    )
    nobody = await platform.organization.get(
        f"/internal/technicians/{uuid.uuid4()}/grants",
        headers={"Authorization": f"Bearer {to_org}"},
    )

    data: dict[str, Any] = org.json()["data"]
    assert (data["id"], data["type"], data["status"], data["version"]) == (
        org_id,
        "customer",
        "active",
        1,
    )
    assert {"name", "settings", "ssoEnabled", "domain"} <= data.keys()
    person = user.json()["data"]
    assert (person["organizationId"], person["role"], person["status"], person["email"]) == (
        str(platform.provider),
        "technician",
        "active",
        email,
    )
    assert person["version"] == 2
    (grant,) = grants.json()["data"]["grants"]
    assert (grant["organizationId"], grant["status"], grant["version"]) == (org_id, "active", 1)
    assert nobody.status_code == 200
    assert nobody.json()["data"]["grants"] == []
