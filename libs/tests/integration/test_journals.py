"""The access and denial journals for real: identity's API in process, its outbox in
PostgreSQL, and at the end the audit worker on this run's bus and the audit API.

A provider's flood of list reads is a few `customer_data.accessed` events whose counts add
up; a signed-in user's 403s and cross-tenant 404s are `access.denied` events of its
organization (route template, status, code, count) that the audit log shows as failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection
from aiormq.exceptions import ChannelNotFoundEntity

from mss_audit import worker as audit_worker
from mss_audit.main import build_runtime as build_audit_runtime
from mss_audit.main import create_app as create_audit_app
from mss_auth.tokens import KeyLoader
from mss_bus import Topology
from mss_contracts.events import EventEnvelope
from mss_contracts.permissions import OrganizationType, Role
from mss_db import OrgScope
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.application.users import ensure_super_admin
from mss_identity.main import build_runtime, create_app
from mss_settings import PlatformSettings
from mss_testing.plugin import TokenFactory, eventually, running

pytestmark = pytest.mark.integration

PASSWORD = "a long and unusual passphrase 42"
Headers = dict[str, str]


@dataclass
class World:
    """A provider with a real super admin; customer A with a user, customer B with one."""

    provider: uuid.UUID
    admin_id: uuid.UUID
    org_a: uuid.UUID
    org_b: uuid.UUID
    user_a: uuid.UUID
    user_b: uuid.UUID


@pytest.fixture
async def world(platform_settings: PlatformSettings, mint_token: TokenFactory) -> World:
    runtime = build_runtime()
    hasher = PasswordHasher(memory_kib=19 * 1024, time_cost=2, parallelism=1, workers=1)
    provider, org_a, org_b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        root = await ensure_super_admin(
            provider_org_id=provider,
            provider_name="Provider",
            email=f"root-{uuid.uuid4().hex[:8]}@example.com",
            password=PASSWORD,
            uow_factory=runtime.uow,
            hasher=hasher,
        )
        async with runtime.uow(OrgScope.everything()) as uow:
            repo = IdentityRepository(uow)
            for org_id in (org_a, org_b):
                await repo.upsert_org(
                    org_id=org_id,
                    name="Customer",
                    type="customer",
                    status="active",
                    settings={},
                    version=1,
                )
            await uow.commit()
    finally:
        hasher.close()
        await runtime.close()
    admin = await _super_admin(mint_token, provider, root.user_id)
    async with running(create_app(run_relay=False)) as client:
        users = [await _invite(client, admin, org) for org in (org_a, org_b)]
    return World(provider, root.user_id, org_a, org_b, *users)


async def _super_admin(mint_token: TokenFactory, provider: uuid.UUID, user: uuid.UUID) -> Headers:
    token = await mint_token(role=Role.SUPER_ADMIN, org_id=provider, user_id=user)
    return {"Authorization": f"Bearer {token}"}


async def _customer(
    mint_token: TokenFactory, role: Role, org_id: uuid.UUID, user_id: uuid.UUID
) -> Headers:
    token = await mint_token(
        role=role, org_id=org_id, org_type=OrganizationType.CUSTOMER, user_id=user_id
    )
    return {"Authorization": f"Bearer {token}"}


async def _invite(client: httpx.AsyncClient, headers: Headers, org_id: uuid.UUID) -> uuid.UUID:
    body = {
        "organizationId": str(org_id),
        "email": f"u-{uuid.uuid4().hex[:8]}@example.com",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "role": Role.BASIC_USER.value,
    }
    response = await client.post("/api/users", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["data"]["id"])


async def _outbox(
    db: asyncpg.Connection, event_type: str, *, user_id: uuid.UUID
) -> list[EventEnvelope]:
    rows = await db.fetch(
        "SELECT payload FROM identity.outbox WHERE event_type = $1 "
        "AND payload->'metadata'->>'userId' = $2 ORDER BY created_at",
        event_type,
        str(user_id),
    )
    return [EventEnvelope.model_validate_json(row["payload"]) for row in rows]


async def test_a_providers_200_list_reads_in_a_window_are_a_few_events_whose_counts_add_up(
    world: World,
    mint_token: TokenFactory,
    admin_db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MSS_JOURNAL_WINDOW_S", "60")  # every read below falls in one window
    admin = await _super_admin(mint_token, world.provider, world.admin_id)

    async with running(create_app(run_relay=False)) as client:
        for _ in range(200):
            listed = await client.get(
                "/api/users", params={"orgId": str(world.org_a)}, headers=admin
            )
            assert listed.status_code == 200, listed.text
            assert len(listed.json()["data"]) == 1

        async def leading() -> list[EventEnvelope]:
            found = await _outbox(admin_db, "customer_data.accessed", user_id=world.admin_id)
            assert found, "the first read reaches the outbox at the next flush"
            return found

        early = await eventually(leading, timeout_s=5)
        assert sum(e.data["accessCount"] for e in early) < 200, "the rest waits for its window"
    # Leaving the app is a graceful stop: it flushes the open window.

    events = await _outbox(admin_db, "customer_data.accessed", user_id=world.admin_id)
    assert 1 <= len(events) <= 3, [e.data for e in events]
    assert sum(e.data["accessCount"] for e in events) == 200, "every read counted, none twice"
    assert sum(e.data["resourceCount"] for e in events) == 200, "one user of A shown per read"
    for event in events:
        assert event.organization_id == world.org_a
        assert event.aggregate_type == "user"
        assert event.aggregate_id == world.org_a, "list reads: the organization is the aggregate"
        assert event.data["path"] == "/api/users"
        assert event.data["actorRole"] == "super_admin"
        assert event.data["firstAt"] <= event.data["lastAt"]
        assert event.metadata.ip_address == "127.0.0.1"


async def test_a_403_and_a_cross_tenant_404_of_a_signed_in_user_are_access_denied_events(
    world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    basic_id, admin_id = uuid.uuid4(), uuid.uuid4()
    basic = await _customer(mint_token, Role.BASIC_USER, world.org_a, basic_id)
    admin_a = await _customer(mint_token, Role.ADMIN, world.org_a, admin_id)

    async with running(create_app(run_relay=False)) as client:
        for _ in range(3):
            refused = await client.get("/api/users", headers=basic)
            assert refused.status_code == 403
            assert refused.json()["code"] == "FORBIDDEN"
        for _ in range(4):
            probe = await client.get(f"/api/users/{world.user_b}", headers=admin_a)
            assert probe.status_code == 404
            assert probe.json()["error"] == "Resource not found", "as for an unknown id"
        # Not denials: no principal (401), a bad request (422), a success.
        assert (await client.get(f"/api/users/{world.user_b}")).status_code == 401
        assert (await client.get("/api/users/not-an-id", headers=admin_a)).status_code == 422
        own = await client.get(f"/api/users/{world.user_a}", headers=admin_a)
        assert own.status_code == 200

    # The first denial leads at the next flush (250 ms), the rest fold into the window's event
    # (written at the app's graceful stop): on a busy machine the burst may span a flush, so
    # one or two events whose counts add up.
    forbidden, *rest = await _outbox(admin_db, "access.denied", user_id=basic_id)
    assert len(rest) <= 1
    assert sum(e.data["count"] for e in (forbidden, *rest)) == 3
    assert forbidden.organization_id == world.org_a, "the actor's organization's chain"
    assert (forbidden.aggregate_type, forbidden.aggregate_id) == ("user", basic_id)
    assert forbidden.data["action"] == "GET /api/users"
    assert (forbidden.data["status"], forbidden.data["code"]) == (403, "FORBIDDEN")
    assert forbidden.data["reason"] == "Missing permission users:read"
    assert forbidden.data["actorRole"] == "basic_user"
    assert forbidden.metadata.ip_address == "127.0.0.1"
    assert forbidden.metadata.session_id is not None

    probed, *rest = await _outbox(admin_db, "access.denied", user_id=admin_id)
    assert len(rest) <= 1
    assert sum(e.data["count"] for e in (probed, *rest)) == 4
    assert probed.organization_id == world.org_a
    assert probed.data["action"] == "GET /api/users/{user_id}", "the template, never the id"
    assert str(world.user_b) not in probed.model_dump_json()
    assert (probed.data["status"], probed.data["code"]) == (404, "NOT_FOUND")
    assert probed.data["actorRole"] == "admin"


@pytest.fixture
async def running_audit_worker(
    platform_settings: PlatformSettings, amqp: AbstractRobustConnection
) -> AsyncIterator[None]:
    """`python -m mss_audit worker` in this process, once its queue is bound."""
    task = asyncio.create_task(audit_worker.run())
    queue = Topology(platform_settings.bus_namespace).queue("audit")

    async def bound() -> None:
        assert not task.done(), "the audit worker stopped"
        channel = await amqp.channel()
        try:
            await channel.declare_queue(queue, passive=True)
        except ChannelNotFoundEntity as exc:
            raise AssertionError(f"{queue} is not declared yet") from exc
        finally:
            with contextlib.suppress(Exception):
                await channel.close()

    await eventually(bound, timeout_s=20)
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.mark.usefixtures("running_audit_worker")
async def test_a_denial_reaches_the_audit_log_as_a_failure_for_the_org_admin_and_super_admin(
    world: World,
    mint_token: TokenFactory,
    key_loader: KeyLoader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MSS_JOURNAL_WINDOW_S", "1")  # the folded denials follow within ~1 s
    basic_id = uuid.uuid4()
    basic = await _customer(mint_token, Role.BASIC_USER, world.org_a, basic_id)
    org_admin = await _customer(mint_token, Role.ADMIN, world.org_a, uuid.uuid4())
    root = await _super_admin(mint_token, world.provider, world.admin_id)
    audit_app = create_audit_app(lambda: build_audit_runtime(key_loader))

    async with running(create_app()) as identity, running(audit_app) as audit:
        for _ in range(5):
            assert (await identity.get("/api/users", headers=basic)).status_code == 403

        async def denied(headers: Headers) -> list[dict[str, Any]]:
            params = {"action": "access.denied", "userId": str(basic_id), "limit": "100"}
            response = await audit.get("/api/audit/logs", params=params, headers=headers)
            assert response.status_code == 200, response.text
            entries: list[dict[str, Any]] = response.json()["data"]
            assert sum(e["details"]["data"]["count"] for e in entries) == 5, entries
            return entries

        for reader in (org_admin, root):
            entries = await eventually(lambda reader=reader: denied(reader), timeout_s=20)
            assert 1 <= len(entries) <= 2
            for entry in entries:
                assert entry["success"] is False
                assert entry["organizationId"] == str(world.org_a)
                assert entry["userId"] == str(basic_id)
                assert entry["ipAddress"] == "127.0.0.1"
                assert entry["errorMessage"].startswith("403 FORBIDDEN on GET /api/users: ")
                assert "Missing permission users:read" in entry["errorMessage"]
