"""The staff directory kept from identity's user.* events, and the worker running for real."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from mss_bus import Bus, Topology
from mss_bus.consumer import apply_once
from mss_contracts.events import (
    EventContext,
    EventData,
    EventEnvelope,
    UserCreated,
    UserDeleted,
    UserInvited,
    UserUpdated,
    new_event,
)
from mss_contracts.permissions import Role
from mss_db.engine import json_dumps
from mss_organization import worker
from mss_organization.consumers.on_user_event import on_user_event
from mss_service import ServiceRuntime
from mss_settings import PlatformSettings

pytestmark = pytest.mark.integration

Headers = dict[str, str]
Factory = Callable[..., Awaitable[Any]]
Body = Callable[..., dict[str, Any]]

PROVIDER = uuid.uuid4()


def _event(user_id: uuid.UUID, data: EventData, version: int) -> EventEnvelope:
    return new_event(
        data,
        aggregate_id=user_id,
        organization_id=PROVIDER,
        version=version,
        context=EventContext(),
    )


def _user(cls: type[UserCreated] | type[UserUpdated], role: Role, status: str) -> EventData:
    return cls(email="t@provider.example", first_name="T", last_name="T", role=role, status=status)


async def _row(admin_db: asyncpg.Connection, user_id: uuid.UUID) -> tuple[Any, ...] | None:
    row = await admin_db.fetchrow(
        "SELECT role, status, version FROM organization.staff_directory WHERE user_id = $1",
        user_id,
    )
    return tuple(row) if row else None


class TestStaffDirectory:
    async def test_the_newest_version_wins_whatever_the_order(
        self, org_runtime: ServiceRuntime, admin_db: asyncpg.Connection
    ) -> None:
        user = uuid.uuid4()

        async def apply(data: EventData, version: int) -> None:
            assert await apply_once(org_runtime.uow, _event(user, data, version), on_user_event)

        await apply(_user(UserCreated, Role.TECHNICIAN, "invited"), 1)
        await apply(_user(UserUpdated, Role.TECHNICIAN, "active"), 2)
        assert await _row(admin_db, user) == ("technician", "active", 2)
        # A late, older event changes nothing.
        await apply(_user(UserCreated, Role.TECHNICIAN, "invited"), 1)
        assert await _row(admin_db, user) == ("technician", "active", 2)
        # An invitation (same version as the creation) is not a state the directory keeps.
        await apply(
            UserInvited(
                email="t@provider.example",
                first_name="T",
                last_name="T",
                role=Role.TECHNICIAN,
                invitation_token="secret",
                expires_at=datetime(2030, 1, 1, tzinfo=UTC),
            ),
            3,
        )
        assert await _row(admin_db, user) == ("technician", "active", 2)
        await apply(UserDeleted(email="t@provider.example"), 4)
        assert await _row(admin_db, user) == ("technician", "inactive", 4)

    async def test_a_deletion_seen_first_is_not_undone_by_the_creation(
        self, org_runtime: ServiceRuntime, admin_db: asyncpg.Connection
    ) -> None:
        user = uuid.uuid4()
        for data, version in (
            (UserDeleted(email="t@provider.example"), 3),
            (_user(UserCreated, Role.TECHNICIAN, "active"), 1),
        ):
            await apply_once(org_runtime.uow, _event(user, data, version), on_user_event)
        assert await _row(admin_db, user) == (None, "inactive", 3)
        await apply_once(
            org_runtime.uow,
            _event(user, _user(UserUpdated, Role.TECHNICIAN, "active"), 4),
            on_user_event,
        )
        assert await _row(admin_db, user) == ("technician", "active", 4)

    async def test_a_redelivered_event_is_applied_once(self, org_runtime: ServiceRuntime) -> None:
        envelope = _event(uuid.uuid4(), _user(UserCreated, Role.TECHNICIAN, "active"), 1)
        assert await apply_once(org_runtime.uow, envelope, on_user_event)
        assert not await apply_once(org_runtime.uow, envelope, on_user_event)

    async def test_a_deactivated_technician_can_no_longer_be_granted(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        new_customer: Factory,
        new_staff: Factory,
        grant_body: Body,
        org_runtime: ServiceRuntime,
    ) -> None:
        org_id, technician = await new_customer(), await new_staff()
        await apply_once(
            org_runtime.uow,
            _event(technician, _user(UserUpdated, Role.TECHNICIAN, "inactive"), 2),
            on_user_event,
        )
        response = await client.post(
            f"/api/organizations/{org_id}/technician-access",
            json=grant_body(technician),
            headers=admin,
        )
        assert response.status_code == 422
        assert "technicianId" in response.json()["details"]

    @pytest.mark.parametrize(
        "departure",
        [
            pytest.param(UserDeleted(email="t@provider.example"), id="deleted"),
            pytest.param(_user(UserUpdated, Role.TECHNICIAN, "inactive"), id="deactivated"),
            pytest.param(_user(UserUpdated, Role.SECURITY_ANALYST, "active"), id="changed-role"),
        ],
    )
    async def test_a_departing_technician_loses_every_grant_at_once(
        self,
        departure: EventData,
        new_customer: Factory,
        new_staff: Factory,
        new_grant: Callable[..., Awaitable[dict[str, Any]]],
        org_runtime: ServiceRuntime,
        admin_db: asyncpg.Connection,
    ) -> None:
        technician = await new_staff()
        grants = [await new_grant(await new_customer(), technician) for _ in range(2)]
        await apply_once(org_runtime.uow, _event(technician, departure, 2), on_user_event)

        rows = await admin_db.fetch(
            "SELECT status, revoked_reason FROM organization.technician_access "
            "WHERE technician_id = $1",
            technician,
        )
        assert [r["status"] for r in rows] == ["revoked", "revoked"]
        revoked = await admin_db.fetch(
            "SELECT payload->>'aggregateId' AS grant FROM organization.outbox "
            "WHERE event_type = 'technician_access.revoked' "
            "AND payload->'data'->>'technicianId' = $1",
            str(technician),
        )
        assert {r["grant"] for r in revoked} == {g["id"] for g in grants}


@pytest.fixture
async def running_worker(platform_settings: PlatformSettings) -> AsyncIterator[None]:
    """`python -m mss_organization worker`, in this process: relay, consumer, expiry sweep."""
    task = asyncio.create_task(worker.run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _eventually() -> AsyncRetrying:
    return AsyncRetrying(
        stop=stop_after_delay(20),
        wait=wait_fixed(0.1),
        retry=retry_if_exception_type(AssertionError),
        reraise=True,
    )


@pytest.mark.usefixtures("running_worker")
async def test_the_worker_learns_technicians_expires_grants_and_relays_events(
    platform_settings: PlatformSettings,
    client: httpx.AsyncClient,
    admin: Headers,
    admin_db: asyncpg.Connection,
    new_customer: Factory,
    grant_body: Body,
) -> None:
    technician = uuid.uuid4()
    bus = Bus(platform_settings.rabbitmq_url, Topology(platform_settings.bus_namespace))
    try:
        # Published until the worker's queue exists and the event lands in the directory.
        async for attempt in _eventually():
            with attempt:
                envelope = _event(technician, _user(UserCreated, Role.TECHNICIAN, "active"), 1)
                await bus.publish(
                    routing_key=envelope.type,
                    body=json_dumps(envelope.model_dump(mode="json", by_alias=True)).encode(),
                    message_id=str(envelope.id),
                )
                await asyncio.sleep(0.2)
                assert await _row(admin_db, technician) == ("technician", "active", 1)
    finally:
        await bus.close()

    org_id = await new_customer()
    created = await client.post(
        f"/api/organizations/{org_id}/technician-access",
        json=grant_body(technician),
        headers=admin,
    )
    assert created.status_code == 201, created.text
    grant_id = uuid.UUID(created.json()["data"]["id"])
    await admin_db.execute(
        "UPDATE organization.technician_access SET expires_at = now() WHERE id = $1", grant_id
    )
    async for attempt in _eventually():
        with attempt:
            status = await admin_db.fetchval(
                "SELECT status FROM organization.technician_access WHERE id = $1", grant_id
            )
            assert status == "expired"
            left = await admin_db.fetchval(
                "SELECT count(*) FROM organization.outbox WHERE payload->>'aggregateId' = $1",
                str(grant_id),
            )
            assert left == 0, "the worker's relay publishes the granted and expired events"
